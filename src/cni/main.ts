/**
 * The process side of `ambit-cni`: reads the config from stdin and the request from `CNI_*`, runs the
 * command, and answers as the CNI spec asks: the result (or nothing) on stdout and exit 0, or the error
 * object on stdout and a non-zero exit.
 */
import { errorMessage } from '../core/errors.ts';
import { runPlugin } from './plugin.ts';
import { MAX_CONFIG_BYTES, parseRequest } from './request.ts';
import { CNI_ERROR, CniError, type CniErrorBody, SUPPORTED_VERSIONS } from './spec.ts';

function versionOf(stdin: string): string {
  try {
    const version = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof version === 'string' && version !== '') return version;
  } catch {
    // the error itself says what was wrong with stdin
  }
  return SUPPORTED_VERSIONS.at(-1)!;
}

/** Reads stdin to its end, but never holds more than the config limit (the rest is drained and dropped). */
async function readBounded(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    bytes += buffer.length;
    if (bytes <= MAX_CONFIG_BYTES + 1) chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function runCni(
  env: Readonly<Record<string, string | undefined>> = process.env,
  stdin: NodeJS.ReadableStream = process.stdin,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const input = await readBounded(stdin);
  try {
    const output = await runPlugin(parseRequest(env, input));
    if (output !== undefined) stdout.write(`${JSON.stringify(output)}\n`);
    return 0;
  } catch (error) {
    const failure =
      error instanceof CniError
        ? error
        : new CniError(CNI_ERROR.ioFailure, 'ambit-cni failed', errorMessage(error));
    const body: CniErrorBody = { cniVersion: versionOf(input), code: failure.cniCode, msg: failure.message };
    if (failure.details) body.details = failure.details;
    stdout.write(`${JSON.stringify(body)}\n`);
    return 1;
  }
}

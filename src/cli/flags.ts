/** Checks of flag values shared by the long-running commands (`ambit ztunnel`, `ambit waypoint run`). */
import { readFile } from 'node:fs/promises';
import { formatDuration, parseDuration } from '../core/config/duration.ts';
import { AmbitError, errorMessage, UsageError } from '../core/errors.ts';
import { controlPlaneTarget } from '../core/grpc/control-target.ts';
import type { ControlPlaneConnection } from '../core/grpc/credentials.ts';
import { type HostPort, parsePort, splitHostPort } from '../core/net/host-port.ts';
import { readNodeToken } from '../core/node-credentials.ts';

/** The flag's value; a missing or empty one is a usage error that shows the command's usage. */
export function requiredFlag(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag}\n\n${usage}`);
  return value;
}

/**
 * A TCP port (1-65535; 0-65535 with `allowPortZero`, where 0 picks a free port), or `fallback` when the flag
 * is absent.
 */
export function portFlag<Fallback extends number | undefined>(
  value: string | undefined,
  flag: string,
  fallback: Fallback,
  options?: { allowPortZero?: boolean },
): number | Fallback {
  if (value === undefined) return fallback;
  const port = parsePort(value, options);
  if (port === undefined)
    throw new UsageError(
      `--${flag}: not a port: ${JSON.stringify(value)} (use ${options?.allowPortZero ? 0 : 1}-65535)`,
    );
  return port;
}

export function hostPortFlag(value: string, flag: string): HostPort {
  const address = splitHostPort(value);
  if (!address) throw new UsageError(`--${flag}: expected HOST:PORT, got ${JSON.stringify(value)}`);
  return address;
}

/** `--control`: one control plane's `HOST:PORT`, or its replicas' separated by commas (checked now). */
export function controlFlag(value: string): string {
  if (!value.includes(',')) hostPortFlag(value, 'control');
  else controlPlaneTarget(value);
  return value;
}

/** The flags by which a data-plane process (a ztunnel, a waypoint) reaches the control plane, all required. */
export const CONTROL_CONNECTION_OPTIONS = {
  control: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-root': { type: 'string' },
} as const;

/** Their lines of the command's usage. */
export const CONTROL_CONNECTION_HELP = `  --control HOST:PORT     the control plane's gRPC listener (discovery and CA); replicas' as a comma-separated
                          list: the first that answers serves, the next on loss (README, Control-plane replicas)
  --token-file FILE       the node's bearer token (re-read on every call, so rotation is picked up)
  --ca-root FILE          the mesh root (PEM) the control plane's certificate chains to`;

/** `--control`, `--token-file` and `--ca-root` as given, checked for presence and form. */
export interface ControlConnectionFlags {
  address: string;
  tokenFile: string;
  caRoot: string;
}

export function controlConnectionFlags(
  values: { control?: string | undefined; 'token-file'?: string | undefined; 'ca-root'?: string | undefined },
  usage: string,
): ControlConnectionFlags {
  return {
    address: controlFlag(requiredFlag(values.control, 'control', usage)),
    tokenFile: requiredFlag(values['token-file'], 'token-file', usage),
    caRoot: requiredFlag(values['ca-root'], 'ca-root', usage),
  };
}

/**
 * The control-plane connection the flags name, its files read: a missing or empty token is a usage problem
 * said now, not on every call; the token file is read again on every call, so a rotated token is picked up.
 */
export async function readControlConnection(flags: ControlConnectionFlags): Promise<ControlPlaneConnection> {
  const { address, tokenFile, caRoot } = flags;
  readNodeToken(tokenFile);
  let rootCertPem: string;
  try {
    rootCertPem = await readFile(caRoot, 'utf8');
  } catch (error) {
    throw new AmbitError('CA_FILES', `cannot read --ca-root ${caRoot}: ${errorMessage(error)}`);
  }
  return { address, rootCertPem, token: () => readNodeToken(tokenFile) };
}

/** A duration (`300ms`, `30s`, `2m`) in ms within [min, max], or `fallback` when the flag is absent. */
export function durationFlag(
  value: string | undefined,
  flag: string,
  fallback: number,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined || ms < min || ms > max)
    throw new UsageError(
      `--${flag}: expected a duration from ${formatDuration(min)} to ${formatDuration(max)} (e.g. 30s, 2m), got ${JSON.stringify(value)}`,
    );
  return Math.round(ms);
}

/**
 * A JSON request body read whole, up to a limit: undefined for an empty body, TOO_LARGE past the limit and
 * BAD_REQUEST for what is not JSON (both AmbitErrors). Past the limit the rest is read into nothing rather
 * than the request destroyed: a destroyed socket would reset the client before it reads the 413 that says
 * why. Used by the control plane's API and the local cluster's node gateway.
 */
import type { IncomingMessage } from 'node:http';
import { AmbitError } from '../errors.ts';

export function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        reject(new AmbitError('TOO_LARGE', `request body over ${limitBytes} bytes`));
        chunks.length = 0;
        req.off('data', onData);
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('error', reject);
    req.on('end', () => {
      if (size === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new AmbitError('BAD_REQUEST', 'request body is not JSON'));
      }
    });
  });
}

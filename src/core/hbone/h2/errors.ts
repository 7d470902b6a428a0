/** Errors a framer stream or connection ends with, carrying the HTTP/2 error code (RFC 9113 section 7). */
import { ErrorCode } from './constants.ts';

const NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

export function errorCodeName(code: number): string {
  return NAMES.get(code) ?? `0x${code.toString(16)}`;
}

/**
 * A stream that was reset or died with its connection (`ERR_H2_STREAM_RESET`), or a connection that ended
 * by a GOAWAY with an error, a socket failure or a timeout (`ERR_H2_CONNECTION`). Stable codes, like Node's
 * `ERR_HTTP2_STREAM_ERROR`, so logs and metrics read the same on both HBONE paths.
 */
export class H2Error extends Error {
  readonly code: 'ERR_H2_STREAM_RESET' | 'ERR_H2_CONNECTION';
  readonly errorCode: number;

  constructor(scope: 'stream' | 'connection', errorCode: number, message: string) {
    super(message);
    this.name = 'H2Error';
    this.code = scope === 'stream' ? 'ERR_H2_STREAM_RESET' : 'ERR_H2_CONNECTION';
    this.errorCode = errorCode;
  }
}

/** Errors a framer stream or connection ends with, carrying the HTTP/2 error code (RFC 9113 section 7). */
import { ErrorCode } from './constants.ts';

const NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

export function errorCodeName(code: number): string {
  return NAMES.get(code) ?? `0x${code.toString(16)}`;
}

/** A stream that the peer reset, or that died with its connection. */
export class H2StreamError extends Error {
  /** Stable, like Node's `ERR_HTTP2_STREAM_ERROR`, so logs and metrics read the same on both paths. */
  readonly code = 'ERR_H2_STREAM_RESET';
  readonly errorCode: number;

  constructor(errorCode: number, message: string) {
    super(message);
    this.name = 'H2StreamError';
    this.errorCode = errorCode;
  }
}

/** The connection ended: by a GOAWAY with an error (ours or the peer's), a socket failure or a timeout. */
export class H2ConnectionError extends Error {
  readonly code = 'ERR_H2_CONNECTION';
  readonly errorCode: number;

  constructor(errorCode: number, message: string) {
    super(message);
    this.name = 'H2ConnectionError';
    this.errorCode = errorCode;
  }
}

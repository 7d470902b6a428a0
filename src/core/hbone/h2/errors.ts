/** Errors a framer stream or connection ends with, carrying the HTTP/2 error code (RFC 9113 section 7). */
import { AmbitError } from '../../errors.ts';
import { ErrorCode } from './constants.ts';

const NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

export function errorCodeName(code: number): string {
  return NAMES.get(code) ?? `0x${code.toString(16)}`;
}

/**
 * A stream that was reset or died with its connection (`scope` 'stream'), or a connection that ended by a
 * GOAWAY with an error, a socket failure or a timeout ('connection'). For the mesh both mean the far side
 * is unavailable for this tunnel (code UNAVAILABLE); `errorCode` is the HTTP/2 code.
 */
export class H2Error extends AmbitError {
  readonly scope: 'stream' | 'connection';
  readonly errorCode: number;

  constructor(scope: 'stream' | 'connection', errorCode: number, message: string) {
    super('UNAVAILABLE', message);
    this.name = 'H2Error';
    this.scope = scope;
    this.errorCode = errorCode;
  }
}

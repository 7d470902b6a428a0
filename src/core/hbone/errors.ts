/** Why an HBONE CONNECT did not produce a tunnel: one of the failures every proxy shares, with its code. */
import { AmbitError } from '../errors.ts';
import { type Failure, failureErrorCode } from '../failure.ts';

export class HboneError extends AmbitError {
  /**
   * Denied (the peer answered 401/403), UpstreamConnectFailure (TCP, TLS or HTTP/2 setup failed, or the
   * peer answered 503: the app port refused), UpstreamRejected (another non-200 status), Timeout (no answer
   * to the CONNECT in time), UpstreamReset (the stream or its connection broke before the answer).
   */
  readonly failure: Failure;
  readonly status: number | undefined;

  constructor(failure: Failure, message: string, status?: number, options?: ErrorOptions) {
    super(failureErrorCode(failure), message, options);
    this.name = 'HboneError';
    this.failure = failure;
    this.status = status;
  }
}

export function failureOfStatus(status: number): Failure {
  if (status === 401 || status === 403) return 'Denied';
  if (status === 503) return 'UpstreamConnectFailure';
  return 'UpstreamRejected';
}

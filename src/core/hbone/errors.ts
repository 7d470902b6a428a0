/** Why an HBONE CONNECT did not produce a tunnel, with a stable code for metrics, logs and tests. */
import { AmbitError } from '../errors.ts';
import { type Failure, failureErrorCode } from '../failure.ts';

export type HboneFailure =
  /** The peer answered 401/403: denied by policy at the destination. */
  | 'denied'
  /** The peer answered 503: the app port refused or is unreachable. */
  | 'upstream-unavailable'
  /** The peer answered another non-200 status. */
  | 'rejected'
  /** TCP connect, TLS handshake or HTTP/2 setup with the peer failed. */
  | 'connect-failed'
  /** No answer to the CONNECT in time. */
  | 'timeout'
  /** The stream or its connection broke before the answer. */
  | 'reset';

/** Each HBONE failure as one of the failures every proxy shares. */
export const FAILURE_OF: Record<HboneFailure, Failure> = {
  denied: 'Denied',
  'upstream-unavailable': 'UpstreamConnectFailure',
  rejected: 'UpstreamRejected',
  'connect-failed': 'UpstreamConnectFailure',
  timeout: 'Timeout',
  reset: 'UpstreamReset',
};

export class HboneError extends AmbitError {
  readonly failure: HboneFailure;
  readonly status: number | undefined;

  constructor(failure: HboneFailure, message: string, status?: number, options?: ErrorOptions) {
    super(failureErrorCode(FAILURE_OF[failure]), message, options);
    this.name = 'HboneError';
    this.failure = failure;
    this.status = status;
  }
}

export function failureOfStatus(status: number): HboneFailure {
  if (status === 401 || status === 403) return 'denied';
  if (status === 503) return 'upstream-unavailable';
  return 'rejected';
}

/**
 * Fault injection as a pure decision: given the route's fault and two random draws in [0, 1), whether this
 * request is delayed (and by how much) and whether it is aborted (with which status). Delay and abort are
 * decided independently, as Envoy's fault filter does; a delayed request may then be aborted.
 */
import type { FaultInjection } from '../../core/l7/types.ts';

export interface FaultDecision {
  delayMs: number;
  abort?: { httpStatus: number; grpcStatus?: number | undefined } | undefined;
}

const NO_FAULT: FaultDecision = { delayMs: 0 };

/** gRPC status codes by the names Istio's `grpcStatus` takes. */
const GRPC_CODES: Record<string, number> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

/** A draw in [0, 1) selects the request when it falls under `percentage` (0-100). */
function selected(percentage: number, draw: number): boolean {
  return draw * 100 < percentage;
}

export function decideFault(
  fault: FaultInjection | undefined,
  delayDraw: number,
  abortDraw: number,
): FaultDecision {
  if (fault === undefined) return NO_FAULT;
  const delayMs = fault.delay && selected(fault.delay.percentage, delayDraw) ? fault.delay.fixedDelayMs : 0;
  const abort = fault.abort;
  if (abort === undefined || !selected(abort.percentage, abortDraw))
    return delayMs === 0 ? NO_FAULT : { delayMs };
  if (abort.grpcStatus !== undefined) {
    // A gRPC abort answers HTTP 200 with the status in `grpc-status` (the HTTP status is for telemetry).
    return { delayMs, abort: { httpStatus: 200, grpcStatus: GRPC_CODES[abort.grpcStatus] ?? 2 } };
  }
  return { delayMs, abort: { httpStatus: abort.httpStatus ?? 503 } };
}

/** The response flags of a fault decision (Envoy: `DI` delayed, `FI` aborted, both when both). */
export function faultFlags(decision: FaultDecision): string | undefined {
  if (decision.abort !== undefined) return decision.delayMs > 0 ? 'DI,FI' : 'FI';
  return decision.delayMs > 0 ? 'DI' : undefined;
}

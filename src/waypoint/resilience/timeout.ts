/**
 * The request's overall deadline: the route's `timeout`, unless the request is gRPC and carries
 * `grpc-timeout`, which Istio honours without cap (Envoy's `max_stream_duration` with
 * `grpc_timeout_header_max: 0`).
 */

const GRPC_TIMEOUT_UNITS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/** `grpc-timeout` (`<1-8 digits><H|M|S|m|u|n>`, gRPC's wire spec) in ms; undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * GRPC_TIMEOUT_UNITS[match[2]!]!;
}

/**
 * The whole-request timeout in ms (undefined: none). A gRPC request's `grpc-timeout` replaces the route's;
 * `0` in it means no deadline. Faults disable the timeout (Istio: no timeouts or retries with faults).
 */
export function requestTimeoutMs(
  routeTimeoutMs: number | undefined,
  grpcTimeout: string | undefined,
  grpc: boolean,
  faulted: boolean,
): number | undefined {
  if (faulted) return undefined;
  const fromHeader = grpc ? parseGrpcTimeout(grpcTimeout) : undefined;
  if (fromHeader !== undefined) return fromHeader === 0 ? undefined : fromHeader;
  return routeTimeoutMs === undefined || routeTimeoutMs === 0 ? undefined : routeTimeoutMs;
}

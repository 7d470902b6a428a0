/**
 * gRPC's view of HTTP outcomes: the status a local reply carries (the mapping gRPC's spec gives for HTTP
 * statuses, which Envoy applies to its own replies to gRPC requests) and which requests are gRPC.
 */

/** `application/grpc`, `application/grpc+proto`, `application/grpc-web`... */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType?.startsWith('application/grpc') === true;
}

/** gRPC status codes for HTTP statuses (gRPC's "HTTP to gRPC status code mapping"). */
export function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/**
 * Endpoints of a Service that has no selector, as its EndpointSlices (discovery.k8s.io/v1) give them: whoever
 * wrote the slices (a user, an operator, a multi-cluster controller) decides the addresses, ports and
 * conditions; nothing here picks pods. The types and decisions are pure, so the model builder can read them
 * without knowing where they came from (kube-endpoint-slices.ts watches them on the API server).
 */
import { isIP } from 'node:net';

/** The label that ties an EndpointSlice to its Service (set by every slice writer, as Kubernetes requires). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** One address of a slice, with the slice's ports (by port name; `''` for the one unnamed port). */
export interface SliceEndpoint {
  ip: string;
  /** `conditions.ready`: may take new connections. */
  ready: boolean;
  /** `conditions.serving`: answers, though perhaps terminating. */
  serving: boolean;
  terminating: boolean;
  ports: Readonly<Record<string, number>>;
}

/** What the model builder reads: `<namespace>/<service>` -> every endpoint of the Service's slices. */
export type SliceEndpointsByService = ReadonlyMap<string, readonly SliceEndpoint[]>;

export interface SliceEndpointSource {
  /** Each Service's endpoints; a Service's entry is the same array until one of its slices changes. */
  byService(): SliceEndpointsByService;
  onChange(listener: () => void): void;
}

/** The parts of an EndpointSlice read here (the shape of `V1EndpointSlice`). */
export interface EndpointSliceFields {
  addressType?: string | undefined;
  endpoints?:
    | Array<{
        addresses?: string[] | undefined;
        conditions?:
          | { ready?: boolean | undefined; serving?: boolean | undefined; terminating?: boolean | undefined }
          | undefined;
      }>
    | undefined;
  ports?:
    | Array<{ name?: string | undefined; port?: number | undefined; protocol?: string | undefined }>
    | undefined;
}

/**
 * A slice's endpoints, with the conditions' documented defaults: an unknown `ready` is ready, an unknown
 * `serving` follows `ready`, an unknown `terminating` is not terminating. FQDN slices (deprecated, with no
 * defined meaning) and addresses that are not IPs give nothing; so do ports without a number or of UDP/SCTP
 * (the mesh carries TCP).
 */
export function sliceEndpoints(slice: EndpointSliceFields): SliceEndpoint[] {
  if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') return [];
  const ports: Record<string, number> = {};
  for (const port of slice.ports ?? []) {
    if (port.port === undefined || (port.protocol ?? 'TCP') !== 'TCP') continue;
    ports[port.name ?? ''] = port.port;
  }
  return (slice.endpoints ?? []).flatMap((endpoint) => {
    const ready = endpoint.conditions?.ready ?? true;
    const serving = endpoint.conditions?.serving ?? ready;
    const terminating = endpoint.conditions?.terminating ?? false;
    return (endpoint.addresses ?? [])
      .filter((ip) => isIP(ip) !== 0)
      .map((ip) => ({ ip, ready, serving, terminating, ports }));
  });
}

/**
 * Which of a Service's endpoints take new connections: the ready ones; when none is ready, those still
 * serving while they terminate (kube-proxy's fallback, KEP-1669), so that a Service whose every endpoint
 * is draining still answers rather than refusing while its replacements start.
 */
export function takesConnections(endpoints: readonly SliceEndpoint[]): (endpoint: SliceEndpoint) => boolean {
  const anyReady = endpoints.some((endpoint) => endpoint.ready && !endpoint.terminating);
  return anyReady
    ? (endpoint) => endpoint.ready && !endpoint.terminating
    : (endpoint) => endpoint.serving && endpoint.terminating;
}

/**
 * What happens to one connection (and, through a waypoint, one request), answered from the snapshots the
 * data plane holds by the very functions it decides with: the ztunnel's outbound choice (`chooseOutbound`:
 * VIP, endpoint, waypoint or passthrough), its inbound checks in their order (waypoint guard,
 * PeerAuthentication, L4 AuthorizationPolicy) and, at a waypoint, L7 authorization and route selection from
 * `core/l7`. Pure: the snapshots come in, an explanation comes out; nothing here does I/O.
 *
 * Which rule of a policy matched is found by asking the same authorization function about each rule alone,
 * so the answer can never disagree with the decision itself.
 */
import type { MeshSnapshots } from '../../core/explain/mesh-snapshots.ts';
import type { RouteInfo } from '../../core/explain/route-info.ts';
import { routeInfo } from '../../core/explain/route-view.ts';
import { authorizeRequest, type RequestAttributes } from '../../core/l7/authorize.ts';
import { findServedTarget, type RequestView, selectRoute } from '../../core/l7/match.ts';
import type { L7AuthorizationPolicy } from '../../core/l7/types.ts';
import { CLUSTER_DOMAIN, GATEWAY_NAME_LABEL } from '../../core/labels.ts';
import type {
  L4Policy,
  NodeSnapshot,
  Service,
  WaypointRef,
  WaypointSnapshot,
  Workload,
} from '../../core/model/index.ts';
import { canonicalIp } from '../../core/net/ip.ts';
import { authorize, type ConnectionAttributes, chooseOutbound, StateStore } from '../../ztunnel/index.ts';

/** Who connects: a workload of the mesh (enrolled or not), a bare identity (authz check), or an address. */
export type TraceSource =
  | { kind: 'workload'; workload: Workload }
  | { kind: 'identity'; identity: string }
  | { kind: 'address'; ip: string };

export interface TraceRequest {
  method: string;
  path: string;
  /** Lowercase names. */
  headers: Record<string, string>;
}

export interface TraceQuery {
  source: TraceSource;
  /** As typed: a Service name (resolved as the source's DNS would), a pod (`ns/name`), or an IP. */
  destination: string;
  port: number;
  request?: TraceRequest | undefined;
}

export type Stage =
  | 'source'
  | 'dns'
  | 'capture'
  | 'outbound'
  | 'endpoint'
  | 'waypoint'
  | 'route'
  | 'inbound'
  | 'peer-authentication'
  | 'authorization';

export interface TraceStep {
  stage: Stage;
  /** Where it is decided: `ztunnel/<node>`, `waypoint/<ns>/<name>`, `kube-proxy`, `dns`. */
  at: string;
  text: string;
}

export interface PolicyMatch {
  at: 'ztunnel' | 'waypoint';
  namespace: string;
  name: string;
  action: string;
  /** Indexes of the rules that match (in the policy's `rules` list). */
  rules: number[];
}

export type Outcome = 'allowed' | 'denied' | 'refused' | 'no-endpoint' | 'not-found';

export interface Verdict {
  outcome: Outcome;
  /** Where the decision fell: `ztunnel/<node>`, `waypoint/<ns>/<name>`, ... */
  at: string;
  reason: string;
  /** The deciding policy, when one decided. */
  policy?: { namespace: string; name: string; rule?: number | undefined } | undefined;
}

export interface Explanation {
  source: string;
  destination: string;
  port: number;
  steps: TraceStep[];
  /** The effective PeerAuthentication mode at the destination workload's port, once one is reached. */
  mtlsMode?: string | undefined;
  /** The PeerAuthentication that set that mode; absent when none applies (the PERMISSIVE default). */
  mtlsPolicy?: { namespace: string; name: string } | undefined;
  /** Whether the hop that reaches the destination is mutual TLS (HBONE). */
  mtls?: boolean | undefined;
  policies: PolicyMatch[];
  route?: RouteInfo | undefined;
  verdict: Verdict;
}

/** A workload named `ns/name`, `name` (in `namespace`, else unique in the mesh), or found by one of its IPs. */
export function findWorkload(
  snapshot: NodeSnapshot,
  text: string,
  namespace?: string | undefined,
): Workload | undefined {
  const ip = canonicalIp(text);
  if (ip !== undefined) return snapshot.workloads.find((w) => w.ips.some((a) => canonicalIp(a) === ip));
  const [ns, name] = text.includes('/') ? (text.split('/', 2) as [string, string]) : [namespace, text];
  const named = snapshot.workloads.filter((w) => w.name === name);
  if (ns !== undefined) return named.find((w) => w.namespace === ns);
  return named.length === 1 ? named[0] : undefined;
}

/** The Services a name means from `namespace`, in the order a pod's resolver tries its search domains. */
export function serviceCandidates(name: string, namespace: string | undefined): string[] {
  const host = name.toLowerCase().replace(/\.$/, '');
  const search = [
    ...(namespace ? [`${namespace}.svc.${CLUSTER_DOMAIN}`] : []),
    `svc.${CLUSTER_DOMAIN}`,
    CLUSTER_DOMAIN,
  ];
  return [...new Set([host, ...search.map((domain) => `${host}.${domain}`)])];
}

function storeOf(snapshot: NodeSnapshot): StateStore {
  const store = new StateStore();
  store.apply(snapshot);
  return store;
}

const refKey = (ref: WaypointRef) => `${ref.namespace}/${ref.name}`;

/** The rules of `policy` that match on their own, asked of the same decision function. */
function matchingRules<P extends { rules: readonly unknown[] }>(
  policy: P,
  matches: (alone: P) => boolean,
): number[] {
  return policy.rules.flatMap((rule, index) => (matches({ ...policy, rules: [rule] }) ? [index] : []));
}

class Tracer {
  readonly steps: TraceStep[] = [];
  readonly policies: PolicyMatch[] = [];
  mtlsMode: string | undefined;
  mtlsPolicy: { namespace: string; name: string } | undefined;
  mtls: boolean | undefined;
  route: RouteInfo | undefined;
  readonly #mesh: MeshSnapshots;
  readonly #stores = new Map<string, StateStore>();

  constructor(mesh: MeshSnapshots) {
    this.#mesh = mesh;
  }

  step(stage: Stage, at: string, text: string): void {
    this.steps.push({ stage, at, text });
  }

  /** The state of `node`'s ztunnel (any node's when the node is unknown: workloads and services are global). */
  store(node: string | undefined): { store: StateStore; node: string } | undefined {
    const name = node !== undefined && this.#mesh.nodes.has(node) ? node : [...this.#mesh.nodes.keys()][0];
    if (name === undefined) return undefined;
    let store = this.#stores.get(name);
    if (!store) {
      store = storeOf(this.#mesh.nodes.get(name)!);
      this.#stores.set(name, store);
    }
    return { store, node: name };
  }

  waypoint(ref: WaypointRef): WaypointSnapshot | undefined {
    return this.#mesh.waypoints.get(refKey(ref));
  }
}

export function explainConnection(mesh: MeshSnapshots, query: TraceQuery): Explanation {
  const tracer = new Tracer(mesh);
  const source = describeSource(query.source);
  const done = (verdict: Verdict): Explanation => ({
    source,
    destination: query.destination,
    port: query.port,
    steps: tracer.steps,
    mtlsMode: tracer.mtlsMode,
    mtlsPolicy: tracer.mtlsPolicy,
    mtls: tracer.mtls,
    policies: tracer.policies,
    route: tracer.route,
    verdict,
  });
  const sourceWorkload = query.source.kind === 'workload' ? query.source.workload : undefined;
  const home = tracer.store(sourceWorkload?.node);
  if (!home) return done({ outcome: 'not-found', at: 'mesh', reason: 'no ztunnel snapshot to answer from' });
  const sourceIdentity =
    query.source.kind === 'identity'
      ? query.source.identity
      : sourceWorkload?.enrolled
        ? sourceWorkload.identity
        : undefined;
  const sourceIp = query.source.kind === 'address' ? query.source.ip : (sourceWorkload?.ips[0] ?? '0.0.0.0');
  tracer.step('source', 'mesh', sourceText(query.source));

  // DNS: what the destination name means from the source, as its resolver asks (ztunnel's proxy if captured).
  const target = resolveDestination(tracer, home.store, query, sourceWorkload);
  if (!target) {
    return done({
      outcome: 'not-found',
      at: 'dns',
      reason: `${query.destination} is no Service, pod or IP address of the mesh`,
    });
  }

  const captured = sourceIdentity !== undefined;
  if (!captured) {
    tracer.step(
      'capture',
      'source pod',
      'not captured: the source is not in the mesh, so it connects in plaintext',
    );
    return plaintextPath(tracer, home.store, target.ip, query.port, sourceIp, done);
  }
  const ztunnel = `ztunnel/${home.node}`;
  tracer.step(
    'capture',
    ztunnel,
    query.source.kind === 'identity'
      ? `as ${sourceIdentity} (a simulated source: outbound decided as any ztunnel would)`
      : `captured by ${ztunnel} (outbound 15001 in the source pod), identity ${sourceIdentity}`,
  );
  const choice = chooseOutbound(home.store, target.ip, query.port);
  const destination = choice.destination;
  if (choice.kind === 'reject') {
    const reasons = {
      'no-service-port': `Service ${destination.service?.namespace}/${destination.service?.name} has no port ${query.port}`,
      'no-ready-endpoint': `Service ${destination.service?.namespace}/${destination.service?.name} has no ready endpoint`,
      'no-ready-waypoint': 'its waypoint has no ready instance (fail closed: never around it)',
      'not-in-registry':
        'outboundTrafficPolicy REGISTRY_ONLY: no pod, Service or ServiceEntry has this address',
    } as const;
    tracer.step('outbound', ztunnel, `refused: ${reasons[choice.reason]}`);
    return done({ outcome: 'no-endpoint', at: ztunnel, reason: reasons[choice.reason] });
  }
  if (choice.kind === 'passthrough') {
    tracer.step(
      'outbound',
      ztunnel,
      `passthrough to ${choice.ip}:${choice.port}: the destination is not in the mesh`,
    );
    tracer.mtls = false;
    return done({
      outcome: 'allowed',
      at: ztunnel,
      reason: 'passthrough: no mesh policy applies outside the mesh',
    });
  }
  if (destination.service) {
    const ready = destination.service.endpoints.filter((e) => e.ready).length;
    tracer.step(
      'outbound',
      ztunnel,
      `VIP ${target.ip}:${query.port} is Service ${destination.service.namespace}/${destination.service.name} (${ready} ready endpoint(s))`,
    );
  }
  tracer.mtls = true;
  if (choice.viaWaypoint) {
    return waypointPath(tracer, home.store, {
      instance: choice.destination.workload!,
      authority: choice.authority,
      service: destination.service,
      sourceIdentity,
      sourceIp,
      query,
      done,
    });
  }
  const workload = destination.workload!;
  const [ip, port] = splitAuthority(choice.authority);
  tracer.step(
    'endpoint',
    ztunnel,
    `HBONE (mTLS, port 15008) to ${workload.namespace}/${workload.name} at ${ip}, peer identity ${choice.peerIdentity}, target port ${port}`,
  );
  return inbound(tracer, workload, {
    peer: sourceWorkload ?? { identity: sourceIdentity },
    attributes: { sourceIp, sourceIdentity, destinationIp: ip, destinationPort: port },
    done,
  });
}

function describeSource(source: TraceSource): string {
  switch (source.kind) {
    case 'workload':
      return `${source.workload.namespace}/${source.workload.name}`;
    case 'identity':
      return source.identity;
    case 'address':
      return source.ip;
  }
}

function sourceText(source: TraceSource): string {
  switch (source.kind) {
    case 'workload': {
      const w = source.workload;
      return `pod ${w.namespace}/${w.name} on ${w.node} (${w.ips.join(', ')}), ${w.enrolled ? `in the mesh as ${w.identity}` : 'not in the mesh'}`;
    }
    case 'identity':
      return `identity ${source.identity}`;
    case 'address':
      return `address ${source.ip} (no workload of the mesh)`;
  }
}

interface ResolvedTarget {
  ip: string;
}

function resolveDestination(
  tracer: Tracer,
  store: StateStore,
  query: TraceQuery,
  sourceWorkload: Workload | undefined,
): ResolvedTarget | undefined {
  const ip = canonicalIp(query.destination);
  if (ip !== undefined) return { ip };
  const namespace = sourceWorkload?.namespace;
  const resolver = sourceWorkload?.enrolled ? `ztunnel/${sourceWorkload.node} DNS proxy` : 'cluster DNS';
  for (const candidate of serviceCandidates(query.destination, namespace)) {
    const service = store.serviceByHostname(candidate);
    if (service?.vips[0]) {
      tracer.step('dns', resolver, `${query.destination} -> ${service.hostname} -> ${service.vips[0]}`);
      return { ip: service.vips[0] };
    }
  }
  const workload =
    findWorkload(
      store.snapshot,
      query.destination,
      query.destination.includes('/') ? undefined : namespace,
    ) ?? findWorkload(store.snapshot, query.destination);
  if (workload?.ips[0]) {
    tracer.step('dns', 'mesh', `pod ${workload.namespace}/${workload.name} is ${workload.ips[0]}`);
    return { ip: workload.ips[0] };
  }
  return undefined;
}

function splitAuthority(authority: string): [string, number] {
  const colon = authority.lastIndexOf(':');
  return [authority.slice(0, colon).replace(/^\[|\]$/g, ''), Number(authority.slice(colon + 1))];
}

type Done = (verdict: Verdict) => Explanation;

/** A source outside the mesh: kube-proxy picks the endpoint, the destination's ztunnel sees plaintext. */
function plaintextPath(
  tracer: Tracer,
  store: StateStore,
  ip: string,
  port: number,
  sourceIp: string,
  done: Done,
): Explanation {
  tracer.mtls = false;
  let destinationIp = ip;
  let destinationPort = port;
  const service = store.serviceByVip(ip);
  if (service) {
    const servicePort = service.ports.find((p) => p.port === port);
    const endpoint = service.endpoints.find((e) => e.ready);
    if (!servicePort || !endpoint) {
      const reason = servicePort
        ? `Service ${service.namespace}/${service.name} has no ready endpoint`
        : `Service ${service.namespace}/${service.name} has no port ${port}`;
      tracer.step('endpoint', 'kube-proxy', `refused: ${reason}`);
      return done({ outcome: 'no-endpoint', at: 'kube-proxy', reason });
    }
    destinationIp = endpoint.ip;
    destinationPort = servicePort.targetPort || servicePort.port;
    tracer.step(
      'endpoint',
      'kube-proxy',
      `VIP ${ip}:${port} (Service ${service.namespace}/${service.name}) -> a ready endpoint, e.g. ${destinationIp}:${destinationPort}`,
    );
  }
  const workload = store.workloadByIp(destinationIp);
  if (!workload?.enrolled) {
    tracer.step(
      'inbound',
      'destination',
      `${destinationIp}:${destinationPort} is not in the mesh: delivered as is`,
    );
    return done({ outcome: 'allowed', at: 'destination', reason: 'neither end is in the mesh' });
  }
  return inbound(tracer, workload, {
    peer: undefined,
    attributes: { sourceIp, destinationIp, destinationPort },
    done,
  });
}

interface InboundHop {
  /** Who holds the tunnel: a workload found by IP, a bare identity, or nobody (plaintext). */
  peer: Pick<Workload, 'identity'> | Workload | undefined;
  attributes: ConnectionAttributes;
  done: Done;
}

/** The destination ztunnel's checks, in the order its inbound handlers make them. */
function inbound(tracer: Tracer, destination: Workload, hop: InboundHop): Explanation {
  const found = tracer.store(destination.node)!;
  const { store } = found;
  // As the destination's own ztunnel holds it: in full. Other nodes hold it without the labels that policy
  // and PeerAuthentication selectors read, so a workload found there is never judged as it stands.
  const workload = store.workloadByUid(destination.uid) ?? destination;
  const at = `ztunnel/${found.node}`;
  const { attributes, done } = hop;
  const plaintext = attributes.sourceIdentity === undefined;
  tracer.step(
    'inbound',
    at,
    plaintext
      ? `plaintext capture (15006) in ${workload.namespace}/${workload.name}, port ${attributes.destinationPort}`
      : `HBONE from ${attributes.sourceIdentity} to ${workload.namespace}/${workload.name}, port ${attributes.destinationPort}`,
  );
  const peerWorkload = hop.peer && 'uid' in hop.peer ? hop.peer : undefined;
  const bypassed = store.bypassedWaypoint(peerWorkload, workload, attributes.destinationPort);
  if (bypassed) {
    const reason = `port ${attributes.destinationPort} is served through waypoint ${bypassed.namespace}/${bypassed.name}, which this peer is not`;
    tracer.step('inbound', at, `refused: ${reason}`);
    return done({ outcome: 'denied', at, reason });
  }
  const { mode, decidedBy } = store.mtlsResolution(workload, attributes.destinationPort);
  tracer.mtlsMode = mode;
  tracer.mtlsPolicy = decidedBy ? { namespace: decidedBy.namespace, name: decidedBy.name } : undefined;
  const setBy = decidedBy
    ? `set by PeerAuthentication ${decidedBy.namespace}/${decidedBy.name}`
    : 'no PeerAuthentication applies: the default';
  tracer.step(
    'peer-authentication',
    at,
    `mode ${mode} (${setBy})${plaintext ? (mode === 'STRICT' ? ': plaintext refused' : ': plaintext accepted') : ', the tunnel is mutual TLS'}`,
  );
  if (plaintext && mode === 'STRICT') {
    return done({
      outcome: 'refused',
      at,
      reason: `PeerAuthentication STRICT refuses plaintext (${setBy})`,
      policy: tracer.mtlsPolicy,
    });
  }
  const policies = store.policiesFor(workload);
  for (const policy of policies) {
    const rules = matchingRules(
      policy,
      (alone: L4Policy) => authorize([alone], workload, attributes).policy !== undefined,
    );
    if (rules.length > 0) {
      tracer.policies.push({
        at: 'ztunnel',
        namespace: policy.namespace,
        name: policy.name,
        action: policy.action,
        rules,
      });
    }
  }
  const decision = store.authorize(workload, attributes);
  const policy = decision.policy;
  const rule = policy
    ? tracer.policies.find((p) => p.name === policy.name && p.namespace === policy.namespace)?.rules[0]
    : undefined;
  const deciding = policy ? { namespace: policy.namespace, name: policy.name, rule } : undefined;
  const reasons = {
    'no-policy': 'no AuthorizationPolicy selects the workload',
    allowed: `allowed by ${policy?.namespace}/${policy?.name} rule ${rule}`,
    denied: `denied by ${policy?.namespace}/${policy?.name} (DENY) rule ${rule}`,
    'not-allowed': `ALLOW policies select the workload (${policies
      .filter((p) => p.action === 'ALLOW')
      .map((p) => `${p.namespace}/${p.name}`)
      .join(', ')}) and none matches`,
  } as const;
  tracer.step('authorization', at, `${decision.allowed ? 'allowed' : 'denied'}: ${reasons[decision.reason]}`);
  return done({
    outcome: decision.allowed ? 'allowed' : 'denied',
    at,
    reason: reasons[decision.reason],
    policy: deciding,
  });
}

interface WaypointHop {
  instance: Workload;
  authority: string;
  service: Service | undefined;
  sourceIdentity: string;
  sourceIp: string;
  query: TraceQuery;
  done: Done;
}

/** Through a waypoint: its L7 policy and route, then its own HBONE hop to the endpoint's ztunnel. */
function waypointPath(tracer: Tracer, store: StateStore, hop: WaypointHop): Explanation {
  const { instance, query, done } = hop;
  const ref: WaypointRef = {
    name: instance.labels[GATEWAY_NAME_LABEL] ?? instance.name,
    namespace: instance.namespace,
  };
  const at = `waypoint/${refKey(ref)}`;
  const [vip, port] = splitAuthority(hop.authority);
  tracer.step(
    'waypoint',
    `ztunnel/${instance.node}`,
    `HBONE (mTLS) to waypoint ${refKey(ref)} (${instance.ips[0]}, ${instance.identity}), authority ${hop.authority}`,
  );
  const snapshot = tracer.waypoint(ref);
  const service = hop.service;
  if (!snapshot || !service) {
    const reason = snapshot
      ? 'a workload-addressed waypoint hop (no Service route to explain)'
      : 'its config could not be read';
    tracer.step('waypoint', at, `L7 not evaluated: ${reason}`);
    return done({ outcome: 'allowed', at, reason: `reaches the waypoint; ${reason}` });
  }
  const served = findServedTarget(snapshot, vip, port);
  if (!served) {
    tracer.step('waypoint', at, `does not serve ${hop.authority}`);
    return done({ outcome: 'no-endpoint', at, reason: `the waypoint does not serve ${hop.authority}` });
  }
  const request = query.request ?? { method: 'GET', path: '/', headers: {} };
  const host = request.headers.host ?? query.destination;
  const attributes: RequestAttributes = {
    sourceIdentity: hop.sourceIdentity,
    sourceIp: hop.sourceIp,
    remoteIp: hop.sourceIp,
    destinationIp: vip,
    destinationPort: port,
    host,
    method: request.method,
    path: request.path,
    header: (name) => request.headers[name],
  };
  const hostname = served.service.hostname;
  for (const policy of snapshot.authorization) {
    const rules = matchingRules(policy, (alone: L7AuthorizationPolicy) => {
      const decision = authorizeRequest([alone], hostname, attributes);
      return decision.policy !== undefined || decision.audited.length > 0;
    });
    if (rules.length > 0) {
      tracer.policies.push({
        at: 'waypoint',
        namespace: policy.namespace,
        name: policy.name,
        action: policy.action,
        rules,
      });
    }
  }
  const decision = authorizeRequest(snapshot.authorization, hostname, attributes);
  const policy = decision.policy;
  const rule = policy
    ? tracer.policies.find(
        (p) => p.at === 'waypoint' && p.name === policy.name && p.namespace === policy.namespace,
      )?.rules[0]
    : undefined;
  const what = `${request.method} ${request.path}`;
  if (!decision.allowed) {
    const reason = policy
      ? `${what} denied by ${policy.namespace}/${policy.name} (${policy.action}) rule ${rule}: 403 RBAC: access denied`
      : `${what}: ALLOW policies apply and none matches: 403 RBAC: access denied`;
    tracer.step('authorization', at, reason);
    return done({
      outcome: 'denied',
      at,
      reason,
      policy: policy ? { namespace: policy.namespace, name: policy.name, rule } : undefined,
    });
  }
  tracer.step(
    'authorization',
    at,
    `${what} allowed${policy ? ` by ${policy.namespace}/${policy.name} rule ${rule}` : ' (no L7 policy applies)'}`,
  );
  const view: RequestView = {
    authority: host,
    method: request.method,
    scheme: 'http',
    path: request.path,
    header: (name) => request.headers[name],
    queryParam: () => undefined,
  };
  const selection = selectRoute(served.port.routes, view);
  if (selection) {
    const { origin, action } = selection.route;
    tracer.route = routeInfo(snapshot, selection.route);
    const backends = tracer.route.backends.map((b) => `${b.cluster} weight ${b.weight}`).join(', ');
    tracer.step(
      'route',
      at,
      `${origin.kind} ${origin.namespace}/${origin.name} rule ${origin.rule}${backends ? ` -> ${backends}` : ` (${action.kind})`}`,
    );
  } else if (served.port.protocol !== 'tcp') {
    tracer.step('route', at, 'no route matches: 404 (NR)');
    return done({ outcome: 'no-endpoint', at, reason: 'no route matches the request (404 NR)' });
  }
  // The waypoint's own hop: to an endpoint's ztunnel, as itself, for the original client.
  const picked = store.pickEndpoint(service, port);
  if (!picked?.workload) {
    tracer.step('endpoint', at, 'no ready endpoint: 503');
    return done({
      outcome: 'no-endpoint',
      at,
      reason: `Service ${service.namespace}/${service.name} has no ready endpoint`,
    });
  }
  tracer.step(
    'endpoint',
    at,
    `HBONE (mTLS) as ${instance.identity} to ${picked.workload.namespace}/${picked.workload.name} at ${picked.ip}:${picked.port}`,
  );
  return inbound(tracer, picked.workload, {
    peer: instance,
    attributes: {
      sourceIp: hop.sourceIp,
      sourceIdentity: instance.identity,
      destinationIp: picked.ip,
      destinationPort: picked.port,
    },
    done,
  });
}

/**
 * Clusters: the upstreams routes name, one per (service hostname, port, subset), each resolved once to its
 * endpoints and to the DestinationRule policy Istio would apply (the most specific host in the nearest
 * namespace; subset and port-level settings merged as Istio's `MergeTrafficPolicy` does). Routes intern the
 * clusters they need; the table carries each once.
 */

import type { SecretSpec } from '../../../core/config/kinds/config-objects.ts';
import type {
  DestinationRuleSpec,
  LoadBalancerSettings,
  TrafficPolicy,
} from '../../../core/config/kinds/istio-networking.ts';
import type {
  BackendPolicy,
  Cluster,
  ClusterEndpoint,
  LoadBalancer,
  OriginatedTls,
  PortProtocol,
} from '../../../core/l7/types.ts';
import { ROOT_NAMESPACE } from '../../../core/labels.ts';
import type { NamedConfig, Service, WaypointRef, Workload } from '../../../core/model/index.ts';
import { labelsMatch } from '../../../core/policy/selector.ts';
import { exportedTo, hostSpecificity } from '../hosts.ts';
import { secretCertificate } from '../ingress/listener-parts.ts';
import type { CompileNote } from './notes.ts';

/** Envoy's default ring size for consistent hashing (Maglev's table size is required by validation). */
const DEFAULT_RING_SIZE = 1024;

export interface ClusterInputs {
  services: readonly Service[];
  workloads: readonly Workload[];
  destinationRules: readonly NamedConfig<DestinationRuleSpec>[];
  waypoint: WaypointRef;
  /** Secrets a DestinationRule's `tls.credentialName` may name (in the waypoint's namespace). */
  secrets?: readonly NamedConfig<SecretSpec>[] | undefined;
  /** Where a DestinationRule whose TLS cannot be originated is reported (absent: not reported). */
  notes?: CompileNote[] | undefined;
}

/** Istio's cluster name, so admin output reads like `istioctl proxy-config clusters`. */
export function clusterName(hostname: string, port: number, subset: string): string {
  return `outbound|${port}|${subset}|${hostname}`;
}

/** `appProtocol` (or the port name's prefix, already folded in) as the waypoint treats the port. */
export function portProtocol(appProtocol: string | undefined): PortProtocol {
  switch (appProtocol) {
    case undefined:
      return 'detect';
    case 'http':
    case 'grpc-web':
      return 'http';
    case 'http2':
      return 'http2';
    case 'grpc':
      return 'grpc';
    default:
      return 'tcp';
  }
}

export class ClusterSet {
  readonly #inputs: ClusterInputs;
  readonly #clusters = new Map<string, Cluster>();
  readonly #labels: Map<string, Record<string, string>>;

  constructor(inputs: ClusterInputs) {
    this.#inputs = inputs;
    this.#labels = new Map(inputs.workloads.map((workload) => [workload.uid, workload.labels]));
  }

  /** The name of the cluster for this destination, building it on first use. */
  intern(hostname: string, port: number, subset = ''): string {
    const name = clusterName(hostname, port, subset);
    if (!this.#clusters.has(name)) this.#clusters.set(name, this.#build(name, hostname, port, subset));
    return name;
  }

  /**
   * The cluster of a served workload's port: its only endpoint is the pod on that port, the protocol is
   * detected (a pod port declares none), and no DestinationRule applies (they select Services by host).
   */
  internWorkload(workload: Workload, port: number, ready: boolean): string {
    const hostname = workload.ips[0] ?? workload.uid;
    const name = clusterName(hostname, port, '');
    if (!this.#clusters.has(name)) {
      this.#clusters.set(name, {
        name,
        hostname,
        port,
        subset: '',
        protocol: 'detect',
        selector: {},
        endpoints: workload.ips.slice(0, 1).map((ip) => ({ workloadUid: workload.uid, ip, port, ready })),
        policy: mergedPolicy(undefined, undefined, port),
      });
    }
    return name;
  }

  /** Every interned cluster, by name. */
  list(): Cluster[] {
    return [...this.#clusters.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  #build(name: string, hostname: string, port: number, subset: string): Cluster {
    const base = { name, hostname, port, subset };
    const service = this.#inputs.services.find((candidate) => candidate.hostname === hostname);
    const rule = selectDestinationRule(this.#inputs.destinationRules, hostname, this.#inputs.waypoint);
    const subsetSpec = rule?.spec.subsets.find((candidate) => candidate.name === subset);
    const selector = subsetSpec?.labels ?? {};
    const policy = mergedPolicy(rule?.spec.trafficPolicy, subsetSpec?.trafficPolicy, port);
    const ruleName = rule ? `${rule.namespace}/${rule.name}` : undefined;
    const servicePort = service?.ports.find((candidate) => candidate.port === port);
    const protocol = portProtocol(servicePort?.appProtocol);
    const problem = !service
      ? `no Service ${hostname} in the mesh`
      : !servicePort
        ? `Service ${hostname} has no port ${port}`
        : subset !== '' && !subsetSpec
          ? `no subset ${JSON.stringify(subset)} for ${hostname} (${ruleName ? `not in DestinationRule ${ruleName}` : 'no DestinationRule'})`
          : undefined;
    if (!service || !servicePort || problem) {
      return {
        ...base,
        protocol,
        selector,
        endpoints: [],
        policy,
        destinationRule: ruleName,
        problem,
      };
    }
    // A ServiceEntry's address that is no pod is outside the mesh: dialled directly, maybe with TLS.
    const tls =
      service.serviceEntry !== undefined
        ? originatedTls(rule, subsetSpec, { port, subset, hostname }, this.#inputs)
        : undefined;
    if (typeof tls === 'string') {
      // Fail closed: TLS the rule asks for and cannot have is never replaced by something weaker.
      this.#inputs.notes?.push({
        kind: 'DestinationRule',
        namespace: rule!.namespace,
        name: rule!.name,
        path: 'spec.trafficPolicy.tls',
        message: `${tls}: requests to ${hostname} get 503`,
      });
      return { ...base, protocol, selector, endpoints: [], policy, destinationRule: ruleName, problem: tls };
    }
    const external = service.serviceEntry !== undefined ? { ...(tls && { tls }) } : undefined;
    const endpoints: ClusterEndpoint[] = service.endpoints
      .filter((endpoint) => labelsMatch(selector, this.#labels.get(endpoint.workloadUid) ?? {}))
      .map((endpoint) => ({
        workloadUid: endpoint.workloadUid,
        ip: endpoint.ip,
        port: endpoint.targetPorts?.[port] ?? servicePort.targetPort,
        ready: endpoint.ready,
        ...(external !== undefined && endpoint.workloadUid === '' ? { external } : {}),
      }));
    // Hostname endpoints carry no labels: a subset with labels selects none of them.
    const use = service.serviceEntry?.resolution === 'DNS_ROUND_ROBIN' ? 'first' : 'all';
    for (const named of Object.keys(selector).length === 0
      ? (service.serviceEntry?.hostnameEndpoints ?? [])
      : []) {
      endpoints.push({
        workloadUid: '',
        ip: '',
        port: named.targetPorts?.[port] ?? servicePort.targetPort,
        ready: true,
        external: { ...external, resolve: { hostname: named.hostname, use } },
      });
    }
    // A DYNAMIC_DNS wildcard host: one endpoint that stands for whatever request host falls under it.
    if (service.serviceEntry?.resolution === 'DYNAMIC_DNS' && Object.keys(selector).length === 0) {
      endpoints.push({
        workloadUid: '',
        ip: '',
        port: servicePort.targetPort,
        ready: true,
        external: { ...external, resolve: { hostname: '', use: 'all', under: hostname } },
      });
    }
    return { ...base, protocol, selector, endpoints, policy, destinationRule: ruleName };
  }
}

/**
 * The TLS a DestinationRule originates toward a ServiceEntry's outside endpoints on this port (subset, then
 * port level, then top level): undefined for none (or DISABLE), or why it cannot be had (a `credentialName`
 * naming no Secret of the waypoint's namespace, a Secret without what the mode needs).
 */
function originatedTls(
  rule: NamedConfig<DestinationRuleSpec> | undefined,
  subset: { trafficPolicy?: TrafficPolicy | undefined } | undefined,
  at: { port: number; subset: string; hostname: string },
  inputs: ClusterInputs,
): OriginatedTls | string | undefined {
  const atPort = (policy: TrafficPolicy | undefined) =>
    policy?.portLevelSettings.find((settings) => settings.port === at.port)?.tls ?? policy?.tls;
  const tls = atPort(subset?.trafficPolicy) ?? atPort(rule?.spec.trafficPolicy);
  if (tls === undefined || tls.mode === 'DISABLE') return undefined;
  const common = { verify: tls.insecureSkipVerify !== true, subjectAltNames: tls.subjectAltNames };
  // Istio's SNI for mesh mTLS names the cluster, so that a server can route on it.
  if (tls.mode === 'ISTIO_MUTUAL')
    return {
      mode: tls.mode,
      sni: tls.sni ?? `outbound_.${at.port}_.${at.subset}_.${at.hostname}`,
      ...common,
    };
  const base = { mode: tls.mode, sni: tls.sni ?? at.hostname, ...common };
  const secretName = tls.credentialName;
  if (secretName === undefined) {
    // Certificates from files are a sidecar's: a waypoint has no such files, so MUTUAL cannot be had.
    return tls.mode === 'MUTUAL'
      ? `tls.mode MUTUAL needs credentialName (a waypoint reads no clientCertificate/privateKey files)`
      : base;
  }
  const namespace = inputs.waypoint.namespace;
  const secret = inputs.secrets?.find((s) => s.name === secretName && s.namespace === namespace);
  if (secret === undefined)
    return `credentialName ${JSON.stringify(secretName)} names no Secret in ${namespace}`;
  const caPem = decoded(secret.spec.entries['ca.crt']);
  if (tls.mode === 'SIMPLE') {
    return caPem === undefined
      ? `Secret ${namespace}/${secretName} has no ca.crt to check the server with`
      : { ...base, caPem };
  }
  const client = secretCertificate(secret, undefined);
  if (typeof client === 'string') return client;
  return {
    ...base,
    caPem,
    clientCertificate: { certificatePem: client.certificatePem, keyPem: client.keyPem },
  };
}

function decoded(base64: string | undefined): string | undefined {
  return base64 === undefined ? undefined : Buffer.from(base64, 'base64').toString('utf8');
}

/**
 * The DestinationRule for `hostname` as seen from the waypoint: Istio looks in the client's namespace (the
 * waypoint's), then the service's, then the root namespace; within them the most specific host wins (exact
 * before `*.suffix`, longer suffixes first), then the name. Rules with a `workloadSelector` target sidecars
 * and are skipped, as are rules not exported to the waypoint's namespace.
 */
export function selectDestinationRule(
  rules: readonly NamedConfig<DestinationRuleSpec>[],
  hostname: string,
  waypoint: WaypointRef,
): NamedConfig<DestinationRuleSpec> | undefined {
  const serviceNamespace = hostname.split('.')[1];
  const namespaceRank = (namespace: string) =>
    namespace === waypoint.namespace
      ? 0
      : namespace === serviceNamespace
        ? 1
        : namespace === ROOT_NAMESPACE
          ? 2
          : 3;
  let best: { rule: NamedConfig<DestinationRuleSpec>; rank: number[] } | undefined;
  for (const rule of rules) {
    if (rule.spec.workloadSelector !== undefined) continue;
    if (!exportedTo(rule.spec.exportTo, rule.namespace, waypoint.namespace)) continue;
    const specificity = hostSpecificity(rule.spec.host, rule.namespace, hostname);
    if (specificity === undefined) continue;
    const rank = [namespaceRank(rule.namespace), -specificity];
    if (!best || lessThan(rank, best.rank)) best = { rule, rank };
  }
  return best?.rule;
}

function lessThan(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/**
 * Istio's merge: the top-level policy, overridden wholesale for the port by its port-level settings; then
 * each field the subset sets replaces it; then the subset's own port-level settings for the port replace
 * the load balancer, connection pool and outlier detection together (port-level policies do not inherit).
 */
export function mergedPolicy(
  top: TrafficPolicy | undefined,
  subset: TrafficPolicy | undefined,
  port: number,
): BackendPolicy {
  let merged = portLevel(top, port);
  if (subset) {
    merged = {
      loadBalancer: subset.loadBalancer ?? merged.loadBalancer,
      connectionPool: subset.connectionPool ?? merged.connectionPool,
      outlierDetection: subset.outlierDetection ?? merged.outlierDetection,
    };
    const subsetPort = subset.portLevelSettings.find((settings) => settings.port === port);
    if (subsetPort) merged = fields(subsetPort);
  }
  // The budget is a TrafficPolicy field without a port-level form: the subset's, else the top-level one.
  const budget = subset?.retryBudget ?? top?.retryBudget;
  return {
    loadBalancer: loadBalancer(merged.loadBalancer),
    connectionPool: merged.connectionPool,
    outlierDetection: merged.outlierDetection,
    ...(budget && {
      retryBudget: {
        percent: budget.percent ?? DEFAULT_RETRY_BUDGET_PERCENT,
        minRetryConcurrency: budget.minRetryConcurrency ?? DEFAULT_MIN_RETRY_CONCURRENCY,
      },
    }),
  };
}

/** Istio's retry budget defaults (Envoy's as well). */
const DEFAULT_RETRY_BUDGET_PERCENT = 20;
const DEFAULT_MIN_RETRY_CONCURRENCY = 3;

type PolicyFields = Pick<TrafficPolicy, 'loadBalancer' | 'connectionPool' | 'outlierDetection'>;

function fields(policy: PolicyFields): PolicyFields {
  return {
    loadBalancer: policy.loadBalancer,
    connectionPool: policy.connectionPool,
    outlierDetection: policy.outlierDetection,
  };
}

function portLevel(policy: TrafficPolicy | undefined, port: number): PolicyFields {
  if (!policy) return {};
  const settings = policy.portLevelSettings.find((candidate) => candidate.port === port);
  return fields(settings ?? policy);
}

function loadBalancer(settings: LoadBalancerSettings | undefined): LoadBalancer {
  const hash = settings?.consistentHash;
  if (hash) {
    const table = hash.maglev
      ? { kind: 'maglev' as const, tableSize: hash.maglev.tableSize }
      : { kind: 'ringHash' as const, minimumRingSize: hash.ringHash?.minimumRingSize ?? DEFAULT_RING_SIZE };
    const hashOn = hash.httpHeaderName
      ? { kind: 'header' as const, name: hash.httpHeaderName.toLowerCase() }
      : hash.httpCookie
        ? {
            kind: 'cookie' as const,
            name: hash.httpCookie.name,
            path: hash.httpCookie.path,
            ttlMs: hash.httpCookie.ttl,
          }
        : hash.httpQueryParameterName
          ? { kind: 'queryParameter' as const, name: hash.httpQueryParameterName }
          : { kind: 'sourceIp' as const };
    return { kind: 'consistentHash', hashOn, table };
  }
  const warmupMs = settings?.warmupDurationSecs;
  switch (settings?.simple) {
    case 'ROUND_ROBIN':
    case 'RANDOM':
    case 'PASSTHROUGH':
      return { kind: settings.simple, warmupMs };
    default:
      // UNSPECIFIED and LEAST_CONN (deprecated) are LEAST_REQUEST, Istio's default.
      return { kind: 'LEAST_REQUEST', warmupMs };
  }
}

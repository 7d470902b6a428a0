/**
 * The compiled L7 route table: what the control plane sends a waypoint instead of raw VirtualService,
 * HTTPRoute, GRPCRoute, DestinationRule and AuthorizationPolicy specs (as Linkerd's client policy and Envoy's
 * xDS do). Every name is resolved, every default applied, every precedence rule already sorted in, so the
 * waypoint only evaluates: find the served service, find the first matching route, pick a weighted backend,
 * apply the parameters. Plain JSON data; regexes travel as RE2 source and the data plane compiles each once
 * (`compileRe2` in `core/config/regex.ts`). Durations are milliseconds; percentages are 0-100 doubles.
 *
 * The wire format is versioned by resource type name (`ROUTE_TABLE_FORMAT`): a waypoint that receives a type
 * it does not know NACKs the push, so a new format can be rolled out as new types next to the old ones.
 */
import type { ConnectionPoolSettings, OutlierDetection } from '../config/kinds/istio-networking.ts';
import type { JwtRuleSpec } from '../config/kinds/request-authentication.ts';
import type { PolicyMatcher } from '../policy/string-match.ts';

/** The format of the compiled table; part of every L7 resource type on the wire (`l7.v1.service`...). */
export const ROUTE_TABLE_FORMAT = 'v1';

// ---------------------------------------------------------------------------------------------------------
// The table

/** Everything one waypoint routes and authorizes; three lists, each travelling as its own resources. */
export interface RouteTable {
  /** The services bound to this waypoint (`istio.io/use-waypoint`), with their routes per port. */
  servedServices: ServedService[];
  /**
   * The workloads bound to this waypoint (`istio.io/use-waypoint` on a pod, a Gateway for `workload` or
   * `all`), addressed by pod IP:port; resource type `l7.v1.workload`, added to v1 (a waypoint without it
   * NACKs a push that binds workloads, so it never serves them half). Absent reads as none.
   */
  servedWorkloads?: ServedWorkload[] | undefined;
  /** Every backend any route or mirror names, by `Cluster.name`; routes refer to them by name. */
  clusters: Cluster[];
  /** L7 AuthorizationPolicies attached to this waypoint or to services it serves, in evaluation order. */
  authorization: L7AuthorizationPolicy[];
  /**
   * Ingress gateways only (resource type `l7.v1.listener`, added to v1; absent for a waypoint): the ports the
   * gateway opens, each served as the port of the same number of its one served service (the Gateway).
   */
  listeners?: ListenerPlan[] | undefined;
}

/**
 * One port an ingress gateway listens on, merged from the Gateway's listeners on that port (which share
 * their protocol, else the control plane programs none of them). `wire` is what is read after any TLS:
 * HTTP (the request engine) or bytes (the port's `tcpRoutes`).
 */
export interface ListenerPlan {
  /** The Gateway's listener names on this port, joined with `,` (the resource name). */
  name: string;
  port: number;
  wire: 'http' | 'tcp';
  /** No TLS (HTTP, TCP); terminated here with these certificates; or passed through, routed by SNI. */
  tls:
    | { mode: 'none' }
    | { mode: 'terminate'; certificates: ListenerCertificate[] }
    | { mode: 'passthrough' };
}

/** A certificate a terminating listener presents to clients whose SNI its hostname matches. */
export interface ListenerCertificate {
  /** The listener's hostname (`*.example.com`); undefined: any SNI, and clients that send none. */
  hostname?: string | undefined;
  /** PEM chain and key, from the listener's `kubernetes.io/tls` Secret. */
  certificatePem: string;
  keyPem: string;
}

/**
 * A route for bytes (TCPRoute, TLSRoute): the first whose `sni` accepts the connection's server name (an
 * empty list accepts any, and a client that sent none) takes it, to a backend chosen by weight.
 */
export interface TcpRoute {
  origin: { kind: 'TCPRoute' | 'TLSRoute' | 'VirtualService'; namespace: string; name: string; rule: number };
  sni: StringMatcher[];
  backends: Backend[];
}

/**
 * How the waypoint treats a port's traffic: `http` (HTTP/1.1, h2c upgrade allowed), `http2` and `grpc`
 * (HTTP/2 prior knowledge; `grpc` also reports gRPC statuses), `tcp` (proxied as bytes, L4 policy only),
 * `detect` (no protocol declared: sniff HTTP/1.1 or the HTTP/2 preface, else TCP). From the Service port's
 * `appProtocol` or name prefix, as Istio's protocol selection reads them.
 */
export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp' | 'detect';

/** A Service the waypoint serves: addressed by VIP:port (HBONE `:authority`) or by hostname (Host header). */
export interface ServedService {
  name: string;
  namespace: string;
  /** `<name>.<namespace>.svc.cluster.local` */
  hostname: string;
  /** The Service's cluster IPs; the HBONE `:authority` the source ztunnel sends is one of these and a port. */
  vips: string[];
  /** One entry per Service port, each with its own ordered routes (Envoy: one route config per port). */
  ports: ServedPort[];
  /** The service's local rate limit (an `HTTPLocalRateLimitPolicy` targeting it); absent: none. */
  rateLimit?: LocalRateLimit | undefined;
  /**
   * The JWT rules of the RequestAuthentications attached to the service or to the waypoint, by policy name;
   * absent or empty: requests carry no authenticated principal. A token that fails them is refused (401).
   */
  requestAuthentication?: JwtRule[] | undefined;
}

/**
 * One accepted issuer, as `RequestAuthentication` `jwtRules` writes it (durations in ms, header names
 * lowercase). Tokens are looked for in `fromHeaders` and `fromParams` (with neither: `Authorization: Bearer`
 * and `access_token`, Istio's defaults).
 */
export type JwtRule = JwtRuleSpec;

/**
 * Token buckets for a served service's HTTP requests, as Linkerd's `HTTPLocalRateLimitPolicy` sets them: each
 * bucket holds one second's worth of requests and refills continuously. A request passes when the `total`
 * bucket and its client's bucket both have a token; the client's bucket is that of the first override naming
 * its identity, else the `identity` one. Over the limit: 429, flag `RL`.
 */
export interface LocalRateLimit {
  /** The policy (namespace/name), for metrics and admin. */
  policy: string;
  totalPerSecond?: number | undefined;
  identityPerSecond?: number | undefined;
  overrides: RateLimitOverride[];
}

export interface RateLimitOverride {
  perSecond: number;
  /** Full SPIFFE IDs (`spiffe://cluster.local/ns/x/sa/y`) of the clients the override is for. */
  identities: string[];
}

/**
 * A workload the waypoint serves: the same shape as a Service, `vips` being the pod IPs and `hostname` the
 * first of them (no DNS name exists). One port per target port of the Services that select the pod, each
 * `detect` with a single default route to a cluster whose only endpoint is the pod (as Istio's waypoint
 * serves workload addresses: no Service routing applies to traffic addressed to a pod).
 */
export interface ServedWorkload extends ServedService {
  /** The workload's uid: its resource name. */
  uid: string;
}

export interface ServedPort {
  /** The Service port (what clients dial), not the target port. */
  port: number;
  protocol: PortProtocol;
  /**
   * Ordered routes: the first whose matches accept the request wins. When the port is routed by a
   * VirtualService or by nothing, a catch-all route to the service itself on this port ends the list
   * (Istio's default route, where the waypoint falls through), unless a user route already matches
   * everything. When Gateway API routes attach to the port there is no such route: a request none matches
   * gets a 404 (flag `NR`), as the Gateway API requires. Empty for `tcp` ports.
   */
  routes: Route[];
  /**
   * `tcp` ports of an ingress gateway: where bytes go (TCPRoute, TLSRoute). Absent: the service port's own
   * cluster (a waypoint's served Service). Present and none matching: the connection is refused.
   */
  tcpRoutes?: TcpRoute[] | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Routes and matches

/** Where a route came from: for access logs, metrics (`route_name`), admin `/routes` and error messages. */
export interface RouteOrigin {
  kind: 'VirtualService' | 'HTTPRoute' | 'GRPCRoute' | 'Gateway' | 'default';
  /** The config object (for `default`: the Service; `Gateway`: a classic Gateway's `httpsRedirect`). */
  namespace: string;
  name: string;
  /** Index of the rule in the object's `http`/`rules` list; for a delegated rule, in the delegate's list. */
  rule: number;
  /** The rule's `name` field, when it has one. */
  ruleName?: string | undefined;
  /** For a rule reached through `delegate`, the root VirtualService (namespace/name) and its rule index. */
  delegatedFrom?: { namespace: string; name: string; rule: number } | undefined;
}

export interface Route {
  origin: RouteOrigin;
  /**
   * Any match accepting the request selects the route (OR); an empty list matches every request. Gateway API
   * routes compile to one route per (rule, match) so that precedence can be sorted per match.
   */
  matches: RequestMatch[];
  action: RouteAction;
  /** Applied to the request before the backend's own operations; set replaces, add appends, remove drops. */
  requestHeaders: HeaderOperations;
  /** Applied to the response after the backend's own operations. */
  responseHeaders: HeaderOperations;
  /** Only with `forward`: path/authority rewrite before the request goes upstream. */
  rewrite?: Rewrite | undefined;
  cors?: CorsPolicy | undefined;
  /** Always set: Istio's default (2 attempts on connection-level failures) when the config says nothing. */
  retry: RetryPolicy;
  /** Whole-request timeout; undefined = none (Istio's default for HTTP routes). */
  timeoutMs?: number | undefined;
  fault?: FaultInjection | undefined;
  /** Fire-and-forget copies of the request; the caller never sees their responses. */
  mirrors: Mirror[];
}

/**
 * A string matcher. `exact` and `prefix` compare code units; `regex` is RE2 source that must match the whole
 * value (Envoy's semantics). `ignoreCase` is set only where the config asks for it (VirtualService
 * `ignoreUriCase` on the path) and, for `regex`, is folded into the pattern by the compiler (`(?i)`).
 */
export type StringMatcher =
  | { kind: 'exact'; value: string; ignoreCase?: boolean | undefined }
  | { kind: 'prefix'; value: string; ignoreCase?: boolean | undefined }
  | { kind: 'regex'; regex: string }
  /**
   * Paths only: the Gateway API's `PathPrefix`, by whole path segments (Envoy's `path_separated_prefix`):
   * `/foo` matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`. `value` carries no trailing `/` (except `/`).
   */
  | { kind: 'pathPrefix'; value: string };

/**
 * A header (or query parameter) condition. `present` asks only for presence. With `invert`, the condition
 * holds when the header is absent or its value does not match (VirtualService `withoutHeaders`).
 */
export interface ValueCondition {
  /** Lowercase for headers (HTTP/2 and Node give them lowercase); as written for query parameters. */
  name: string;
  match: StringMatcher | { kind: 'present' };
  invert: boolean;
}

/** Every set field must hold (AND). Fields of the request the waypoint reads as HTTP/2 pseudo-headers. */
export interface RequestMatch {
  /** On the path without the query string. */
  path?: StringMatcher | undefined;
  /** `GET`, `POST`...: exact, or any matcher for VirtualService `method`. */
  method?: StringMatcher | undefined;
  /** `http` or `https` (`x-forwarded-proto` as received, else `http`). */
  scheme?: StringMatcher | undefined;
  /** On the Host / `:authority` header as the client sent it (with its port, if any). */
  authority?: StringMatcher | undefined;
  headers: ValueCondition[];
  queryParams: ValueCondition[];
}

/** What a selected route does. */
export type RouteAction = ForwardAction | RedirectAction | DirectResponseAction;

export interface ForwardAction {
  kind: 'forward';
  /**
   * Non-empty. Chosen by weight (`chooseBackend`); a weight-0 backend never receives traffic. When every
   * weight is 0 the compiler emits a `directResponse` 500 instead (Gateway API), so the sum here is > 0.
   */
  backends: Backend[];
}

export type Backend = ClusterBackend | InvalidBackend;

interface BackendBase {
  weight: number;
  /** Applied after the route's request operations (VirtualService destination `headers`, backendRef filters). */
  requestHeaders: HeaderOperations;
  responseHeaders: HeaderOperations;
}

export interface ClusterBackend extends BackendBase {
  kind: 'cluster';
  /** `Cluster.name` in the table. */
  cluster: string;
}

/**
 * A backendRef the Gateway API says answers 500 for its share of requests: unknown kind, a cross-namespace
 * reference without grant, a Service that does not exist.
 */
export interface InvalidBackend extends BackendBase {
  kind: 'invalid';
  /** Why, for the access log and admin `/routes`. */
  reason: string;
}

export interface RedirectAction {
  kind: 'redirect';
  /** 301, 302 (default), 303, 307 or 308. */
  status: number;
  /** Replaces the scheme; undefined keeps the request's. */
  scheme?: string | undefined;
  /** Replaces the host part of the authority; undefined keeps the request's. */
  host?: string | undefined;
  /**
   * The port of the `Location`: a number, `fromRequest` (keep the request's port), or `fromScheme` (drop the
   * port, so the scheme's default applies). Undefined: keep the request's port if it had one.
   */
  port?: number | 'fromRequest' | 'fromScheme' | undefined;
  /** Undefined keeps the request's path. The query string is kept unless `path` is `full` with a `?`. */
  path?: PathRewrite | undefined;
}

export interface DirectResponseAction {
  kind: 'directResponse';
  status: number;
  /** Body text (UTF-8), or base64 of raw bytes when `bodyEncoding` is `base64`. */
  body?: string | undefined;
  bodyEncoding?: 'utf8' | 'base64' | undefined;
}

/**
 * A path rewrite (`rewritePath` in `match.ts` applies it):
 * - `full` replaces the whole path (VirtualService `redirect.uri`, Gateway API `ReplaceFullPath`);
 * - `prefix` is Envoy's `prefix_rewrite` (VirtualService `rewrite.uri`): the part of the path the selected
 *   match's path matcher matched (a `prefix` matcher's value, the whole path for `exact` and `regex`, the
 *   leading `/` when the match had no path matcher) is replaced by `value`, by plain concatenation;
 * - `replacePrefixMatch` is the Gateway API's, by path segments: the `pathPrefix` that matched is replaced
 *   and exactly one `/` joins the two parts (`/foo` -> `/` turns `/foo/bar` into `/bar`);
 * - `regex` substitutes every match of an RE2 pattern (`\1` groups in `substitution`; `uriRegexRewrite`).
 */
export type PathRewrite =
  | { kind: 'full'; value: string }
  | { kind: 'prefix'; value: string }
  | { kind: 'replacePrefixMatch'; value: string }
  | { kind: 'regex'; regex: string; substitution: string };

export interface Rewrite {
  path?: PathRewrite | undefined;
  /** Replaces the Host / `:authority` sent upstream. */
  authority?: string | undefined;
}

export interface HeaderValue {
  /** Lowercase. */
  name: string;
  value: string;
}

/** Envoy applies remove, then set, then add; each list is in config order. */
export interface HeaderOperations {
  set: HeaderValue[];
  add: HeaderValue[];
  /** Lowercase names. */
  remove: string[];
}

export interface CorsPolicy {
  /** An `Origin` matching any of these is allowed; `{kind: 'exact', value: '*'}` allows every origin. */
  allowOrigins: StringMatcher[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number | undefined;
  allowCredentials: boolean;
  /** A preflight whose origin is not allowed: `forward` it upstream (Istio's default) or `ignore` the policy. */
  unmatchedPreflights: 'forward' | 'ignore';
}

// ---------------------------------------------------------------------------------------------------------
// Resilience parameters (the data for issue 12's pipeline stages)

/**
 * Envoy's retry policy. `attempts` counts retries after the first try (0 disables). `retryOn` holds Envoy
 * conditions (`5xx`, `gateway-error`, `reset`, `connect-failure`, `retriable-4xx`, `refused-stream`,
 * `retriable-status-codes`, `retriable-headers`, and the gRPC ones `cancelled`, `deadline-exceeded`,
 * `internal`, `resource-exhausted`, `unavailable`); numeric codes from the config are in
 * `retriableStatusCodes` (and `retriable-status-codes` in `retryOn`).
 */
export interface RetryPolicy {
  attempts: number;
  perTryTimeoutMs?: number | undefined;
  retryOn: string[];
  retriableStatusCodes: number[];
  /** Base of the exponential backoff with full jitter (Envoy: 25 ms, capped at 10x base). */
  backoffBaseMs: number;
}

export interface FaultInjection {
  /** Undefined percentage in the config = 0: an unset percentage faults nothing (Istio). */
  delay?: { fixedDelayMs: number; percentage: number } | undefined;
  /** Exactly one of `httpStatus` and `grpcStatus` (a gRPC status name such as `UNAVAILABLE`). */
  abort?:
    | { httpStatus?: number | undefined; grpcStatus?: string | undefined; percentage: number }
    | undefined;
}

export interface Mirror {
  /** `Cluster.name` in the table. */
  cluster: string;
  /** Share of requests copied; unset in the config = 100, 0 = none. */
  percentage: number;
}

// ---------------------------------------------------------------------------------------------------------
// Clusters: backends with their endpoints and merged DestinationRule policy

/**
 * One upstream: a service port, optionally narrowed to a subset. Istio's cluster naming
 * (`outbound|<port>|<subset>|<hostname>`), so admin output reads like `istioctl proxy-config clusters`.
 */
export interface Cluster {
  name: string;
  hostname: string;
  /** The Service port the route named (or the request's port). */
  port: number;
  /** Empty when no subset. */
  subset: string;
  /** Protocol toward the endpoints (the destination Service port's). */
  protocol: PortProtocol;
  /** The subset's labels (empty = every endpoint of the service). */
  selector: Record<string, string>;
  /**
   * The service's endpoints whose workloads match `selector`, reached over HBONE at `<ip>:15008` with
   * `:authority` `<ip>:<targetPort>`. Unready endpoints are listed (admin shows them) but not chosen.
   */
  endpoints: ClusterEndpoint[];
  /** DestinationRule policy merged for this port and subset as Istio merges it. */
  policy: BackendPolicy;
  /** Which DestinationRule supplied `policy` (namespace/name), if one did. */
  destinationRule?: string | undefined;
  /**
   * Set when the cluster cannot carry traffic (`no Service ...`, `no subset ... in DestinationRule ...`): the
   * waypoint answers 503 for it; the text is for admin `/clusters` and logs.
   */
  problem?: string | undefined;
}

export interface ClusterEndpoint {
  workloadUid: string;
  ip: string;
  /** The Service port's target port on this endpoint. */
  port: number;
  ready: boolean;
  /**
   * The HBONE `:authority` when it is not `<ip>:<port>`: an ingress gateway that sends a Service's traffic
   * through its waypoint (`istio.io/ingress-use-waypoint`) lists the waypoint's instances, asked for the
   * Service's VIP and port as a source ztunnel asks them.
   */
  authority?: string | undefined;
  /**
   * An address outside the mesh (a ServiceEntry endpoint that is no pod): dialled directly at `<ip>:<port>`,
   * not over HBONE, and with `tls` the waypoint originates TLS to it (DestinationRule `tls.mode`).
   */
  external?: ExternalEndpoint | undefined;
}

export interface ExternalEndpoint {
  tls?: OriginatedTls | undefined;
  /**
   * A hostname endpoint of a `resolution: DNS`/`DNS_ROUND_ROBIN` ServiceEntry (`ip` is empty): the waypoint
   * resolves it when it dials, honouring the answer's TTL. `DNS` spreads connections over every address of
   * the answer, `DNS_ROUND_ROBIN` takes the first one (Envoy's STRICT_DNS and LOGICAL_DNS clusters).
   * With `under` (a `DYNAMIC_DNS` entry's wildcard host, `*.example.com`) the name is each request's host,
   * filled in per request, and a host not under it is refused (Envoy's dynamic forward proxy).
   */
  resolve?: { hostname: string; use: 'all' | 'first'; under?: string | undefined } | undefined;
}

/**
 * TLS the waypoint opens toward an endpoint outside the mesh: `SIMPLE` checks the server, `MUTUAL` also
 * presents `clientCertificate` (both from the DestinationRule's `credentialName` Secret), `ISTIO_MUTUAL`
 * presents the waypoint's own mesh certificate and checks the server's against the mesh roots.
 */
export interface OriginatedTls {
  mode: 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  /** The ClientHello's server name, and the name the certificate must carry unless `subjectAltNames`. */
  sni: string;
  /**
   * Trusted roots (PEM, from the `credentialName` Secret's `ca.crt`); absent: the system's (SIMPLE, MUTUAL)
   * or the mesh trust bundle (ISTIO_MUTUAL).
   */
  caPem?: string | undefined;
  /** `insecureSkipVerify: true` turns the check off. */
  verify: boolean;
  /**
   * Names the certificate must carry one of, instead of `sni` (for ISTIO_MUTUAL: SPIFFE identities; empty
   * means any identity of the mesh's trust domains).
   */
  subjectAltNames: string[];
  /** MUTUAL: what the waypoint presents (PEM, the Secret's `tls.crt` and `tls.key`). */
  clientCertificate?: { certificatePem: string; keyPem: string } | undefined;
}

export interface BackendPolicy {
  loadBalancer: LoadBalancer;
  /** Undefined: Envoy's defaults (effectively unlimited; connect timeout 10 s). Durations in ms. */
  connectionPool?: ConnectionPoolSettings | undefined;
  /** Undefined: no outlier detection. Durations in ms. */
  outlierDetection?: OutlierDetection | undefined;
  /**
   * Concurrent retries allowed as `percent` of the cluster's active and pending requests, at least
   * `minRetryConcurrency` (Istio's defaults 20 and 3 filled in); when set it replaces `maxRetries`, as in
   * Envoy. Undefined: no budget.
   */
  retryBudget?: { percent: number; minRetryConcurrency: number } | undefined;
}

/**
 * `LEAST_REQUEST` is Istio's default (power of two choices); `LEAST_CONN` is folded into it, as Istio does.
 * `PASSTHROUGH` sends to the address the client dialled (for a waypoint: behaves as `RANDOM` among
 * endpoints, since the VIP is never an endpoint).
 */
export type LoadBalancer =
  | { kind: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH'; warmupMs?: number | undefined }
  | { kind: 'consistentHash'; hashOn: HashKey; table: HashTable };

export type HashKey =
  | { kind: 'header'; name: string }
  /** Hash on this cookie; when absent the waypoint sets it (with `path`, and `ttlMs` as Max-Age). */
  | { kind: 'cookie'; name: string; path?: string | undefined; ttlMs?: number | undefined }
  | { kind: 'sourceIp' }
  | { kind: 'queryParameter'; name: string };

/** Envoy's defaults: ring hash with at least 1024 entries; Maglev with a 65537-entry table (a prime). */
export type HashTable = { kind: 'ringHash'; minimumRingSize: number } | { kind: 'maglev'; tableSize: number };

// ---------------------------------------------------------------------------------------------------------
// L7 authorization

/**
 * An AuthorizationPolicy as a waypoint enforces it. Evaluation (`authorizeRequest`): AUDIT policies are
 * reported, never decide; a matching DENY denies; if any ALLOW applies the request must match one (default
 * deny); no ALLOW: allowed. CUSTOM never reaches a waypoint (the compiler refuses it with a message).
 */
export interface L7AuthorizationPolicy {
  name: string;
  namespace: string;
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  /**
   * Which requests the policy applies to: every request through the waypoint (`targetRefs` to its Gateway or
   * to the `istio-waypoint` GatewayClass), or requests to the named served services (by hostname).
   */
  appliesTo: { kind: 'waypoint' } | { kind: 'services'; hostnames: string[] };
  /** Any rule matching means the policy matches; an empty list matches nothing (`spec: {}`). */
  rules: L7Rule[];
}

/** Some `from`, some `to` (each list: empty = any) and every `when` must match. */
export interface L7Rule {
  from: L7Source[];
  to: L7Operation[];
  when: L7Condition[];
}

/**
 * Istio's value matchers for principals, namespaces, hosts, methods and paths, parsed once by the control
 * plane: `exact`, `prefix` (`abc*`), `suffix` (`*abc`), `any` (`*`, any non-empty value) and, for paths,
 * `template` (Envoy URI templates). One implementation in `core/policy/string-match.ts`.
 */
export type { PolicyMatcher };

/** Every non-empty field must match; an empty list constrains nothing. */
export interface L7Source {
  /** Against the peer's SPIFFE ID without `spiffe://` (`cluster.local/ns/x/sa/y`); serviceAccounts folded in. */
  principals: PolicyMatcher[];
  notPrincipals: PolicyMatcher[];
  namespaces: PolicyMatcher[];
  notNamespaces: PolicyMatcher[];
  /** CIDRs or addresses against the peer (the source ztunnel's `forwarded` client address). */
  ipBlocks: string[];
  notIpBlocks: string[];
  /**
   * Against the original client as Envoy determines it; with no trusted proxies configured (Istio's default)
   * that is the same address as `ipBlocks` sees.
   */
  remoteIpBlocks: string[];
  notRemoteIpBlocks: string[];
  /** Against the request's JWT principal (`<iss>/<sub>`); absent reads as empty. */
  requestPrincipals?: PolicyMatcher[] | undefined;
  notRequestPrincipals?: PolicyMatcher[] | undefined;
}

export interface L7Operation {
  /** Against the Host/`:authority`, case-insensitively, with or without its port. */
  hosts: PolicyMatcher[];
  notHosts: PolicyMatcher[];
  /** The served service port. */
  ports: number[];
  notPorts: number[];
  methods: PolicyMatcher[];
  notMethods: PolicyMatcher[];
  /** Against the path without the query string. */
  paths: PolicyMatcher[];
  notPaths: PolicyMatcher[];
}

/** The attributes a `when` condition can read whose values are strings (Istio's condition keys). */
export type StringConditionKey =
  | { kind: 'requestHeader'; name: string }
  | { kind: 'sourceNamespace' }
  | { kind: 'sourcePrincipal' }
  | { kind: 'destinationPort' }
  | { kind: 'sni' }
  /** The request's JWT: `request.auth.principal`, `.audiences`, `.presenter`, `.claims[a][b]`. */
  | { kind: 'authPrincipal' }
  | { kind: 'authAudiences' }
  | { kind: 'authPresenter' }
  | { kind: 'authClaim'; path: string[] };

/** The attributes a `when` condition can read whose values are IP addresses, compared against CIDRs. */
export type IpConditionKey = { kind: 'sourceIp' } | { kind: 'remoteIp' } | { kind: 'destinationIp' };

/**
 * A `when` condition: holds when some entry of `values` matches (or `values` is empty) and no `notValues`
 * entry does. An attribute the request lacks (no such header, a plaintext peer) matches no `values` entry
 * and is excluded by no `notValues` entry. `destinationPort` compares as text (`exact` matchers).
 */
export type L7Condition =
  | { kind: 'string'; key: StringConditionKey; values: PolicyMatcher[]; notValues: PolicyMatcher[] }
  | { kind: 'ip'; key: IpConditionKey; values: string[]; notValues: string[] };

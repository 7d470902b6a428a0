/**
 * The route table of an ingress gateway (a Gateway of class `ambit` or `istio`): the same compiled format a
 * waypoint gets, so one request engine serves both. The Gateway is the one served service (by its Service
 * hostname, no VIP); each listener port is one of its ports. Per port: the listeners on it must agree on
 * protocol and TLS mode (else none of them is programmed: `Conflicted`); HTTP and HTTPS ports carry the
 * attached HTTPRoutes and GRPCRoutes as routes, each match narrowed to the hostnames it attached with (Host
 * header) and ranked by hostname first; TLS and TCP ports carry TLSRoutes (by SNI) and TCPRoutes as
 * `tcpRoutes`. Terminating listeners get their certificates from `kubernetes.io/tls` Secrets (a Secret in
 * another namespace needs a ReferenceGrant). Alongside: the status of every listener and every route's
 * parentRefs to the Gateway. A pure function of its inputs.
 */

import type { SecretSpec } from '../../../core/config/kinds/config-objects.ts';
import type {
  BackendRef,
  GatewayListener,
  GatewaySpec,
  GRPCRouteSpec,
  HTTPRouteSpec,
} from '../../../core/config/kinds/gateway.ts';
import { GATEWAY_API_GROUP } from '../../../core/config/kinds/gateway.ts';
import type { L4RouteSpec, ReferenceGrantSpec } from '../../../core/config/kinds/gateway-l4.ts';
import type { DestinationRuleSpec } from '../../../core/config/kinds/istio-networking.ts';
import type { AuthorizationPolicySpec } from '../../../core/config/kinds/istio-security.ts';
import { ANY_HOSTNAME, type Hostnames, hostnameMatcher, hostnameRank } from '../../../core/l7/hostnames.ts';
import type {
  Backend,
  Cluster,
  ClusterEndpoint,
  ListenerCertificate,
  ListenerPlan,
  Route,
  RouteTable,
  ServedPort,
  ServedService,
  TcpRoute,
} from '../../../core/l7/types.ts';
import { GATEWAY_NAME_LABEL } from '../../../core/labels.ts';
import type { NamedConfig, Service, Workload } from '../../../core/model/index.ts';
import { joinHostPort } from '../../../core/net/host-port.ts';
import { ClusterSet } from '../l7/clusters.ts';
import {
  backendTarget,
  byPrecedence,
  type Candidate,
  type GatewayRouteInputs,
  grpcCandidates,
  httpCandidates,
  weightedBackends,
} from '../l7/gateway-routes.ts';
import { serviceHostname } from '../services.ts';
import { attachRoute, type IngressRouteKind, type ParentAttachment, type RouteRef } from './attachment.ts';
import { type GatewayDeployment, type GatewayPolicyInputs, gatewayPolicies } from './gateway-policies.ts';
import { byHostnamePrecedence, secretCertificate, withHostnames } from './listener-parts.ts';
import { referenceGranted } from './reference-grants.ts';

export interface IngressInputs extends GatewayPolicyInputs {
  gateway: NamedConfig<GatewaySpec>;
  services: readonly Service[];
  workloads: readonly Workload[];
  destinationRules: readonly NamedConfig<DestinationRuleSpec>[];
  httpRoutes: readonly NamedConfig<HTTPRouteSpec>[];
  grpcRoutes: readonly NamedConfig<GRPCRouteSpec>[];
  tcpRoutes: readonly NamedConfig<L4RouteSpec>[];
  tlsRoutes: readonly NamedConfig<L4RouteSpec>[];
  referenceGrants: readonly NamedConfig<ReferenceGrantSpec>[];
  secrets: readonly NamedConfig<SecretSpec>[];
  /** Labels of each namespace (for `allowedRoutes.namespaces.from: Selector`). */
  namespaceLabels: ReadonlyMap<string, Record<string, string>>;
  /** AuthorizationPolicies with targetRefs: those naming the Gateway or a Service it serves apply. */
  attachedPolicies: readonly NamedConfig<AuthorizationPolicySpec>[];
  /** Hostnames of Services labelled (or in a namespace labelled) `istio.io/ingress-use-waypoint: "true"`. */
  ingressViaWaypoint: readonly string[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface ListenerStatus {
  name: string;
  attachedRoutes: number;
  conditions: Condition[];
}

export interface RouteParentStatus {
  route: { kind: IngressRouteKind; namespace: string; name: string };
  parentRef: ParentAttachment['parentRef'];
  conditions: Condition[];
}

export interface CompiledIngress {
  table: RouteTable;
  listeners: ListenerStatus[];
  routes: RouteParentStatus[];
}

const PROTOCOL_WIRE: Record<string, 'http' | 'tcp'> = { HTTP: 'http', HTTPS: 'http', TLS: 'tcp', TCP: 'tcp' };

interface Attached {
  ref: RouteRef;
  hostnames: Hostnames;
  spec: HTTPRouteSpec | GRPCRouteSpec | L4RouteSpec;
}

export function compileIngress(inputs: IngressInputs): CompiledIngress {
  const { gateway } = inputs;
  const ref = { name: gateway.name, namespace: gateway.namespace };
  const clusters = new ClusterSet({ ...inputs, waypoint: ref });
  const routeInputs: GatewayRouteInputs = { ...inputs, clusters };
  const hostname = serviceHostname(gateway.name, gateway.namespace);

  // Which routes attach to which listener.
  const byListener = new Map<string, Attached[]>();
  const routeStatuses: RouteParentStatus[] = [];
  for (const { kind, routes } of routeKinds(inputs)) {
    for (const route of routes) {
      const routeRef: RouteRef = {
        kind,
        namespace: route.namespace,
        name: route.name,
        parentRefs: route.spec.parentRefs,
        hostnames: route.spec.hostnames,
      };
      const labels = inputs.namespaceLabels.get(route.namespace) ?? {};
      for (const parent of attachRoute(gateway, routeRef, labels)) {
        for (const { listener, hostnames } of parent.listeners) {
          const list = byListener.get(listener.name) ?? [];
          list.push({ ref: routeRef, hostnames, spec: route.spec });
          byListener.set(listener.name, list);
        }
        routeStatuses.push({
          route: { kind, namespace: route.namespace, name: route.name },
          parentRef: parent.parentRef,
          conditions: [
            condition('Accepted', parent.reason === 'Accepted', parent.reason, parent.message),
            resolvedRefs(kind, route.namespace, route.spec, routeInputs),
          ],
        });
      }
    }
  }

  // Listeners by port; a port whose listeners disagree programs none of them.
  const listenerStatuses: ListenerStatus[] = [];
  const ports: ServedPort[] = [];
  const plans: ListenerPlan[] = [];
  for (const [port, listeners] of groupByPort(gateway.spec.listeners)) {
    const conflict = portConflict(listeners);
    const certificates: ListenerCertificate[] = [];
    const programmed: GatewayListener[] = [];
    for (const listener of listeners) {
      const attached = byListener.get(listener.name) ?? [];
      const problem = conflict ?? unsupported(listener);
      const refs = problem ? undefined : listenerCertificates(listener, inputs);
      const refProblem = refs !== undefined && !Array.isArray(refs) ? refs : undefined;
      listenerStatuses.push({
        name: listener.name,
        attachedRoutes: new Set(attached.map((a) => `${a.ref.kind}/${a.ref.namespace}/${a.ref.name}`)).size,
        conditions: listenerConditions(problem, refProblem, conflict !== undefined),
      });
      if (problem || refProblem) continue;
      programmed.push(listener);
      if (Array.isArray(refs)) certificates.push(...refs);
    }
    if (programmed.length === 0) continue;
    const first = programmed[0]!;
    const wire = PROTOCOL_WIRE[first.protocol]!;
    const attached = programmed.flatMap((listener) => byListener.get(listener.name) ?? []);
    plans.push({
      name: programmed.map((listener) => listener.name).join(','),
      port,
      wire,
      tls:
        first.protocol === 'HTTPS' || first.tls?.mode === 'Terminate'
          ? { mode: 'terminate', certificates: byHostnamePrecedence(certificates) }
          : first.protocol === 'TLS'
            ? { mode: 'passthrough' }
            : { mode: 'none' },
    });
    ports.push(
      wire === 'http'
        ? { port, protocol: 'http', routes: httpRoutes(attached, routeInputs) }
        : { port, protocol: 'tcp', routes: [], tcpRoutes: tcpRoutes(attached, routeInputs) },
    );
  }

  const served: ServedService = {
    name: gateway.name,
    namespace: gateway.namespace,
    hostname,
    vips: [],
    ports,
  };
  const { authorization, jwtRules } = gatewayPolicies(
    served,
    gatewayDeployment(inputs),
    inputs,
    inputs.attachedPolicies,
    [],
  );
  if (jwtRules.length > 0) served.requestAuthentication = jwtRules;
  return {
    table: {
      servedServices: [served],
      clusters: clusters.list().map((cluster) => throughWaypoint(cluster, inputs)),
      authorization,
      listeners: plans,
    },
    listeners: listenerStatuses,
    routes: routeStatuses,
  };
}

/** The Gateway's pods, by the labels of one of its instances (all carry the same), else the one they all carry. */
function gatewayDeployment(inputs: IngressInputs): GatewayDeployment {
  const { name, namespace } = inputs.gateway;
  const instance = inputs.workloads.find(
    (workload) => workload.namespace === namespace && workload.labels[GATEWAY_NAME_LABEL] === name,
  );
  return { name, namespace, labels: instance?.labels ?? { [GATEWAY_NAME_LABEL]: name } };
}

/**
 * A cluster of a Service the gateway sends through its waypoint: the waypoint's instances as endpoints,
 * each asked over HBONE for the Service's VIP and port, as a source ztunnel asks (the waypoint then routes
 * by its own rules, so a subset chosen here does not narrow its choice). A Service bound to no waypoint
 * keeps its endpoints; a waypoint without a ready instance leaves none (503, never a path around it).
 */
function throughWaypoint(cluster: Cluster, inputs: IngressInputs): Cluster {
  if (!inputs.ingressViaWaypoint.includes(cluster.hostname)) return cluster;
  const service = inputs.services.find((candidate) => candidate.hostname === cluster.hostname);
  const ref = service?.waypoint;
  if (service === undefined || ref === undefined) return cluster;
  const vip = service.vips[0];
  const instances = inputs.services.find(
    (s) => s.name === ref.name && s.namespace === ref.namespace,
  )?.endpoints;
  const endpoints: ClusterEndpoint[] =
    vip === undefined
      ? []
      : (instances ?? []).map((instance) => ({
          workloadUid: instance.workloadUid,
          ip: instance.ip,
          port: cluster.port,
          ready: instance.ready,
          authority: joinHostPort(vip, cluster.port),
        }));
  const problem =
    endpoints.length === 0
      ? `waypoint ${ref.namespace}/${ref.name} has no instance to send through`
      : undefined;
  return { ...cluster, endpoints, problem };
}

function routeKinds(inputs: IngressInputs): {
  kind: IngressRouteKind;
  routes: readonly NamedConfig<HTTPRouteSpec | GRPCRouteSpec | L4RouteSpec>[];
}[] {
  // TCPRoutes have no hostnames field; attachment ignores hostnames for them.
  return [
    { kind: 'GRPCRoute', routes: inputs.grpcRoutes },
    { kind: 'HTTPRoute', routes: inputs.httpRoutes },
    { kind: 'TLSRoute', routes: inputs.tlsRoutes },
    { kind: 'TCPRoute', routes: inputs.tcpRoutes },
  ];
}

function groupByPort(listeners: readonly GatewayListener[]): Map<number, GatewayListener[]> {
  const ports = new Map<number, GatewayListener[]>();
  for (const listener of listeners) ports.set(listener.port, [...(ports.get(listener.port) ?? []), listener]);
  return ports;
}

/** Listeners sharing a port must speak the same protocol with the same TLS mode. */
function portConflict(listeners: readonly GatewayListener[]): string | undefined {
  const kinds = new Set(listeners.map((listener) => `${listener.protocol}/${listener.tls?.mode ?? ''}`));
  if (kinds.size <= 1) return undefined;
  return `listeners on port ${listeners[0]!.port} disagree on protocol or TLS mode (${[...kinds].join(', ')})`;
}

function unsupported(listener: GatewayListener): string | undefined {
  if (PROTOCOL_WIRE[listener.protocol] === undefined)
    return `protocol ${listener.protocol} is not served by Ambit's ingress gateway (HTTP, HTTPS, TLS, TCP)`;
  return undefined;
}

/** Why a listener's references cannot be used, with the Gateway API's `ResolvedRefs` reason. */
interface RefProblem {
  reason: 'InvalidCertificateRef' | 'RefNotPermitted';
  message: string;
}

/** A terminating listener's certificates, or why they cannot be used; `[]` for a listener without TLS. */
function listenerCertificates(
  listener: GatewayListener,
  inputs: IngressInputs,
): ListenerCertificate[] | RefProblem {
  const tls = listener.tls;
  if (tls === undefined || tls.mode !== 'Terminate') return [];
  const from = { group: GATEWAY_API_GROUP, kind: 'Gateway', namespace: inputs.gateway.namespace };
  const out: ListenerCertificate[] = [];
  for (const ref of tls.certificateRefs) {
    const namespace = ref.namespace ?? inputs.gateway.namespace;
    if (ref.group !== '' || ref.kind !== 'Secret')
      return {
        reason: 'InvalidCertificateRef',
        message: `certificateRef kind ${ref.group}/${ref.kind} is not supported`,
      };
    if (
      !referenceGranted(inputs.referenceGrants, from, {
        group: '',
        kind: 'Secret',
        namespace,
        name: ref.name,
      })
    )
      return {
        reason: 'RefNotPermitted',
        message: `Secret ${namespace}/${ref.name} is in another namespace and no ReferenceGrant allows it`,
      };
    const secret = inputs.secrets.find((s) => s.name === ref.name && s.namespace === namespace);
    if (secret === undefined)
      return {
        reason: 'InvalidCertificateRef',
        message: `Secret ${namespace}/${ref.name} does not exist: the listener is not programmed`,
      };
    const certificate = secretCertificate(secret, listener.hostname);
    if (typeof certificate === 'string') return { reason: 'InvalidCertificateRef', message: certificate };
    out.push(certificate);
  }
  return out;
}

function listenerConditions(
  problem: string | undefined,
  refProblem: RefProblem | undefined,
  conflicted: boolean,
): Condition[] {
  if (problem !== undefined) {
    return [
      condition('Accepted', conflicted, conflicted ? 'Accepted' : 'UnsupportedProtocol', problem),
      condition('Conflicted', conflicted, conflicted ? 'ProtocolConflict' : 'NoConflicts', problem),
      condition('Programmed', false, 'Invalid', problem),
    ];
  }
  if (refProblem !== undefined) {
    return [
      condition('Accepted', true, 'Accepted', 'listener accepted'),
      condition('ResolvedRefs', false, refProblem.reason, refProblem.message),
      condition('Programmed', false, 'Invalid', refProblem.message),
    ];
  }
  return [
    condition('Accepted', true, 'Accepted', 'listener accepted'),
    condition('ResolvedRefs', true, 'ResolvedRefs', 'references resolved'),
    condition('Programmed', true, 'Programmed', 'listener programmed'),
  ];
}

/** HTTP ports: every attached route's matches, per hostname it attached with, by the API's precedence. */
function httpRoutes(attached: readonly Attached[], inputs: GatewayRouteInputs): Route[] {
  const ranked = (kind: IngressRouteKind) => {
    const candidates: Candidate[] = [];
    for (const entry of attached) {
      if (entry.ref.kind !== kind) continue;
      const named = { name: entry.ref.name, namespace: entry.ref.namespace };
      const own =
        kind === 'GRPCRoute'
          ? grpcCandidates({ ...named, spec: entry.spec as GRPCRouteSpec }, undefined, inputs)
          : httpCandidates({ ...named, spec: entry.spec as HTTPRouteSpec }, undefined, inputs);
      candidates.push(...own.flatMap((candidate) => withHostnames(candidate, entry.hostnames)));
    }
    return byPrecedence(candidates);
  };
  const routes = [...ranked('GRPCRoute'), ...ranked('HTTPRoute')].map((candidate) => candidate.route);
  // The same route attached through two listeners on one port (both any-host) compiles twice: keep one.
  return [...new Map(routes.map((route) => [JSON.stringify(route), route])).values()];
}

/** TLS and TCP ports: TLSRoutes by SNI (most specific hostname first), then TCPRoutes, rule by rule. */
function tcpRoutes(attached: readonly Attached[], inputs: GatewayRouteInputs): TcpRoute[] {
  const ranked: { route: TcpRoute; rank: [number, number] }[] = [];
  for (const entry of attached) {
    if (entry.ref.kind !== 'TLSRoute' && entry.ref.kind !== 'TCPRoute') continue;
    const kind = entry.ref.kind;
    const spec = entry.spec as L4RouteSpec;
    const from = { group: GATEWAY_API_GROUP, kind, namespace: entry.ref.namespace };
    const hosts = entry.hostnames === ANY_HOSTNAME ? [undefined] : entry.hostnames;
    spec.rules.forEach((rule, index) => {
      const backends: Backend[] = weightedBackends(from, rule.backendRefs, inputs);
      for (const host of hosts) {
        ranked.push({
          route: {
            origin: { kind, namespace: entry.ref.namespace, name: entry.ref.name, rule: index },
            sni: host === undefined ? [] : [hostnameMatcher(host)],
            backends,
          },
          rank: hostnameRank(host),
        });
      }
    });
  }
  return ranked.sort((a, b) => b.rank[0] - a.rank[0] || b.rank[1] - a.rank[1]).map((entry) => entry.route);
}

/** `ResolvedRefs` of a route: false when a backendRef cannot be used, with the API's reason for the cause. */
function resolvedRefs(
  kind: IngressRouteKind,
  namespace: string,
  spec: HTTPRouteSpec | GRPCRouteSpec | L4RouteSpec,
  inputs: GatewayRouteInputs,
): Condition {
  const from = { group: GATEWAY_API_GROUP, kind, namespace };
  const problems = (spec.rules as { backendRefs: readonly BackendRef[] }[]).flatMap((rule) =>
    rule.backendRefs.flatMap((ref) => {
      const target = backendTarget(ref, from, inputs);
      return typeof target === 'string' ? [target] : [];
    }),
  );
  if (problems.length === 0)
    return condition('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved');
  const reason = problems.some((p) => p.includes('ReferenceGrant'))
    ? 'RefNotPermitted'
    : problems.some((p) => p.includes('not supported'))
      ? 'InvalidKind'
      : 'BackendNotFound';
  return condition('ResolvedRefs', false, reason, problems.join('; '));
}

function condition(type: string, ok: boolean, reason: string, message: string): Condition {
  return { type, status: ok ? 'True' : 'False', reason, message };
}

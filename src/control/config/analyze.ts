/**
 * Checks across resources (what `istioctl analyze` reports): references to things no config defines, and
 * what the data plane will make of a policy. All are warnings: the set still applies, the user is told.
 * Runs on the whole set that would be in force after an apply, so a reference may be satisfied by config
 * applied earlier or in another file.
 */

import type { ConfigIssue } from '../../core/config/issues.ts';
import { ISTIO_HTTP_PROTOCOLS, ISTIO_TLS_PROTOCOLS } from '../../core/config/kinds/common.ts';
import type { GatewaySpec, HTTPRouteSpec } from '../../core/config/kinds/gateway.ts';
import type {
  Destination,
  DestinationRuleSpec,
  VirtualServiceSpec,
} from '../../core/config/kinds/istio-networking.ts';
import type {
  AuthorizationPolicySpec,
  PeerAuthenticationSpec,
} from '../../core/config/kinds/istio-security.ts';
import type { ServiceEntrySpec } from '../../core/config/kinds/istio-service-entry.ts';
import type { HTTPLocalRateLimitPolicySpec } from '../../core/config/kinds/linkerd-policy.ts';
import type { Resource } from '../../core/config/resource.ts';
import {
  CLUSTER_DOMAIN,
  USE_WAYPOINT_LABEL,
  USE_WAYPOINT_NAMESPACE_LABEL,
  WAYPOINT_GATEWAY_CLASS,
} from '../../core/labels.ts';
import type { Service } from '../../core/model/index.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';
import { toL4Policy } from '../model/authorization.ts';
import { resolveHost } from '../model/hosts.ts';
import { classicGatewayNotes } from '../model/ingress/classic-notes.ts';
import { ingressNotes } from '../model/ingress/status.ts';
import { buildMesh } from '../model/mesh.ts';
import { toPeerAuthPolicies } from '../model/peer-authentication.ts';
import { serviceHostname } from '../model/services.ts';
import { waypointRouteTable } from '../model/views.ts';
import { waypointServedHosts } from '../model/waypoints.ts';
import { telemetryWarnings } from './analyze-telemetry.ts';

/** The HBONE port every waypoint listens on. */
const WAYPOINT_PORT = ZTUNNEL_PORTS.hbone;

function ofKind<Spec>(resources: readonly Resource[], kind: string): Resource<Spec>[] {
  return resources.filter((resource) => resource.kind === kind) as Resource<Spec>[];
}

function warning(resource: Resource, path: string, message: string): ConfigIssue {
  return {
    severity: 'warning',
    source: resource.source,
    resource: { kind: resource.kind, name: resource.metadata.name, namespace: resource.metadata.namespace },
    path,
    message,
  };
}

export function analyzeResources(resources: readonly Resource[], trustDomain: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const services = new Set(
    ofKind(resources, 'Service').map((s) =>
      serviceHostname(s.metadata.name, s.metadata.namespace ?? 'default'),
    ),
  );
  const gateways = new Set(
    ofKind(resources, 'Gateway').map((g) => `${g.metadata.namespace}/${g.metadata.name}`),
  );
  const subsets = new Map<string, Set<string>>();
  for (const rule of ofKind<DestinationRuleSpec>(resources, 'DestinationRule')) {
    const host = resolveHost(rule.spec.host, rule.metadata.namespace ?? 'default');
    const names = subsets.get(host) ?? new Set<string>();
    for (const subset of rule.spec.subsets) names.add(subset.name);
    subsets.set(host, names);
    if (isClusterHost(host) && !services.has(host)) {
      issues.push(warning(rule, 'spec.host', `host ${host} is not a Service in the mesh`));
    }
  }

  const checkDestination = (resource: Resource, path: string, destination: Destination) => {
    const host = resolveHost(destination.host, resource.metadata.namespace ?? 'default');
    if (isClusterHost(host) && !services.has(host)) {
      issues.push(warning(resource, `${path}.host`, `host ${host} is not a Service in the mesh`));
    }
    if (destination.subset !== undefined && !subsets.get(host)?.has(destination.subset)) {
      issues.push(
        warning(
          resource,
          `${path}.subset`,
          `subset ${JSON.stringify(destination.subset)} of ${host} is not defined by any DestinationRule`,
        ),
      );
    }
  };
  for (const vs of ofKind<VirtualServiceSpec>(resources, 'VirtualService')) {
    vs.spec.http.forEach((route, i) => {
      route.route.forEach((target, j) => {
        checkDestination(vs, `spec.http[${i}].route[${j}].destination`, target.destination);
      });
      if (route.mirror) checkDestination(vs, `spec.http[${i}].mirror`, route.mirror);
      route.mirrors.forEach((mirror, j) => {
        checkDestination(vs, `spec.http[${i}].mirrors[${j}].destination`, mirror.destination);
      });
    });
    for (const kind of ['tcp', 'tls'] as const) {
      vs.spec[kind].forEach((route, i) => {
        route.route.forEach((target, j) => {
          checkDestination(vs, `spec.${kind}[${i}].route[${j}].destination`, target.destination);
        });
      });
    }
  }

  for (const route of ofKind<HTTPRouteSpec>(resources, 'HTTPRoute')) {
    const namespace = route.metadata.namespace ?? 'default';
    route.spec.parentRefs.forEach((parent, i) => {
      const parentNamespace = parent.namespace ?? namespace;
      const known =
        parent.kind === 'Service'
          ? services.has(serviceHostname(parent.name, parentNamespace))
          : gateways.has(`${parentNamespace}/${parent.name}`);
      if (!known)
        issues.push(
          warning(
            route,
            `spec.parentRefs[${i}]`,
            `${parent.kind} ${parentNamespace}/${parent.name} is not defined`,
          ),
        );
    });
    route.spec.rules.forEach((rule, i) => {
      rule.backendRefs.forEach((backend, j) => {
        const backendNamespace = backend.namespace ?? namespace;
        if (
          backend.kind === 'Service' &&
          backend.group === '' &&
          !services.has(serviceHostname(backend.name, backendNamespace))
        ) {
          issues.push(
            warning(
              route,
              `spec.rules[${i}].backendRefs[${j}]`,
              `Service ${backendNamespace}/${backend.name} is not defined`,
            ),
          );
        }
      });
    });
  }

  for (const policy of ofKind<AuthorizationPolicySpec>(resources, 'AuthorizationPolicy')) {
    const namespace = policy.metadata.namespace ?? 'default';
    policy.spec.targetRefs.forEach((ref, i) => {
      const known =
        ref.kind === 'Service'
          ? services.has(serviceHostname(ref.name, namespace))
          : ref.kind === 'Gateway'
            ? gateways.has(`${namespace}/${ref.name}`)
            : true;
      if (!known)
        issues.push(
          warning(policy, `spec.targetRefs[${i}]`, `${ref.kind} ${namespace}/${ref.name} is not defined`),
        );
    });
    for (const note of toL4Policy(policy, trustDomain).notes)
      issues.push(warning(policy, note.path, note.message));
  }

  const peerNotes = toPeerAuthPolicies(ofKind<PeerAuthenticationSpec>(resources, 'PeerAuthentication')).notes;
  for (const resource of ofKind<PeerAuthenticationSpec>(resources, 'PeerAuthentication')) {
    for (const note of peerNotes.get(`${resource.metadata.namespace}/${resource.metadata.name}`) ?? []) {
      issues.push(warning(resource, note.path, note.message));
    }
  }

  for (const gateway of ofKind<GatewaySpec>(resources, 'Gateway')) {
    if (gateway.spec.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) continue;
    if (
      !gateway.spec.listeners.some(
        (listener) => listener.port === WAYPOINT_PORT && listener.protocol === 'HBONE',
      )
    ) {
      issues.push(
        warning(
          gateway,
          'spec.listeners',
          `a waypoint needs a listener on port ${WAYPOINT_PORT} with protocol HBONE`,
        ),
      );
    }
  }

  issues.push(...unservedL7(resources, services));
  issues.push(...serviceEntryWarnings(resources, trustDomain));

  for (const resource of resources) {
    const waypoint = resource.metadata.labels[USE_WAYPOINT_LABEL];
    if (waypoint === undefined || waypoint === 'none') continue;
    const namespace =
      resource.metadata.labels[USE_WAYPOINT_NAMESPACE_LABEL] ??
      resource.metadata.namespace ??
      resource.metadata.name;
    if (!gateways.has(`${namespace}/${waypoint}`)) {
      issues.push(
        warning(
          resource,
          `metadata.labels.${USE_WAYPOINT_LABEL}`,
          `waypoint ${namespace}/${waypoint} is not defined (no such Gateway)`,
        ),
      );
    }
  }
  issues.push(...routeTableWarnings(resources, trustDomain));
  issues.push(...telemetryWarnings(resources, warning));
  return issues;
}

/**
 * L7 config (VirtualService http routes for the mesh, HTTPRoute/GRPCRoute on a Service parent, an
 * AuthorizationPolicy targeting a Service) is applied by the waypoint that serves the Service: for a
 * Service of the set that no declared waypoint serves, it does nothing, and the user is told so.
 */
function unservedL7(resources: readonly Resource[], services: ReadonlySet<string>): ConfigIssue[] {
  const served = waypointServedHosts(resources);
  const unserved = (host: string) => services.has(host) && !served.has(host);
  const hint = (host: string) =>
    `no effect until a waypoint serves ${host} (label the Service or its namespace ${USE_WAYPOINT_LABEL}=<waypoint>)`;
  const issues: ConfigIssue[] = [];
  for (const vs of ofKind<VirtualServiceSpec>(resources, 'VirtualService')) {
    const forMesh = vs.spec.gateways.length === 0 || vs.spec.gateways.includes('mesh');
    if (!forMesh || vs.spec.http.length === 0) continue;
    vs.spec.hosts.forEach((host, i) => {
      const resolved = resolveHost(host, vs.metadata.namespace ?? 'default');
      if (unserved(resolved))
        issues.push(warning(vs, `spec.hosts[${i}]`, `http routes have ${hint(resolved)}`));
    });
  }
  for (const route of [
    ...ofKind<HTTPRouteSpec>(resources, 'HTTPRoute'),
    ...ofKind<HTTPRouteSpec>(resources, 'GRPCRoute'),
  ]) {
    route.spec.parentRefs.forEach((parent, i) => {
      if (parent.kind !== 'Service') return;
      const host = serviceHostname(parent.name, parent.namespace ?? route.metadata.namespace ?? 'default');
      if (unserved(host))
        issues.push(warning(route, `spec.parentRefs[${i}]`, `this route has ${hint(host)}`));
    });
  }
  for (const policy of ofKind<AuthorizationPolicySpec>(resources, 'AuthorizationPolicy')) {
    policy.spec.targetRefs.forEach((ref, i) => {
      if (ref.kind !== 'Service') return;
      const host = serviceHostname(ref.name, policy.metadata.namespace ?? 'default');
      if (unserved(host))
        issues.push(warning(policy, `spec.targetRefs[${i}]`, `this policy has ${hint(host)}`));
    });
  }
  for (const policy of ofKind<HTTPLocalRateLimitPolicySpec>(resources, 'HTTPLocalRateLimitPolicy')) {
    const host = serviceHostname(policy.spec.targetRef.name, policy.metadata.namespace ?? 'default');
    if (unserved(host)) issues.push(warning(policy, 'spec.targetRef', `this policy has ${hint(host)}`));
    else if (!services.has(host))
      issues.push(
        warning(policy, 'spec.targetRef', `Service ${host} does not exist: the policy limits nothing`),
      );
  }
  return issues;
}

/**
 * What each waypoint's route table compiler could not carry over as written (a missing delegate, CUSTOM
 * policies, JWT attributes, consumer routes), on the object it concerns. Endpoints do not matter here, so
 * the mesh is built without pods.
 */
function routeTableWarnings(resources: readonly Resource[], trustDomain: string): ConfigIssue[] {
  const mesh = buildMesh({ resources, pods: [], trustDomain, trustBundle: [] });
  const notes = [
    ...mesh.gateways
      .filter((gateway) => gateway.spec.gatewayClassName === WAYPOINT_GATEWAY_CLASS)
      .flatMap((gateway) => waypointRouteTable(mesh, gateway).notes),
    // Ingress gateways: listeners that cannot be programmed, routes not attached or with unusable refs.
    ...ingressNotes(mesh),
    ...classicGatewayNotes(mesh),
  ];
  const seen = new Set<string>();
  return notes.flatMap((note) => {
    const key = JSON.stringify(note);
    const resource = resources.find(
      (candidate) =>
        candidate.kind === note.kind &&
        candidate.metadata.name === note.name &&
        (candidate.metadata.namespace ?? 'default') === note.namespace,
    );
    if (seen.has(key) || !resource) return [];
    seen.add(key);
    return [warning(resource, note.path, note.message)];
  });
}

/**
 * A DNS ServiceEntry's hostname endpoints (or hosts, without endpoints) are resolved by the waypoint that
 * serves the entry: without one, nothing resolves them.
 */
function serviceEntryWarnings(resources: readonly Resource[], trustDomain: string): ConfigIssue[] {
  const { services } = buildMesh({ resources, pods: [], trustDomain, trustBundle: [] });
  const issues: ConfigIssue[] = [];
  for (const entry of ofKind<ServiceEntrySpec>(resources, 'ServiceEntry')) {
    const key = `${entry.metadata.namespace ?? 'default'}/${entry.metadata.name}`;
    const unserved = services.some(
      (service) =>
        service.serviceEntry?.entry === key &&
        (service.serviceEntry.hostnameEndpoints?.length ?? 0) > 0 &&
        service.waypoint === undefined,
    );
    issues.push(...dynamicEntryWarnings(entry, services));
    if (!unserved) continue;
    issues.push(
      warning(
        entry,
        'spec.resolution',
        `${entry.spec.resolution} endpoints are resolved by name by the entry's waypoint, and no waypoint serves it (label it ${USE_WAYPOINT_LABEL}=<waypoint>): no VIP is allocated, the hosts are left to the cluster DNS, and under REGISTRY_ONLY their traffic is refused`,
      ),
    );
  }
  return issues;
}

/**
 * What a DYNAMIC_DNS or NONE entry's wildcard hosts get here: a DYNAMIC_DNS one is served only through a
 * waypoint, for an outside (MESH_EXTERNAL) service, and on HTTP ports (the request's Host is what is
 * resolved) or TLS ones (the ClientHello's SNI); a NONE one names no address a ztunnel could recognise.
 */
function dynamicEntryWarnings(
  entry: Resource<ServiceEntrySpec>,
  services: readonly Service[],
): ConfigIssue[] {
  const { spec } = entry;
  const wildcards = spec.hosts.filter((host) => host.startsWith('*.'));
  if (wildcards.length === 0) return [];
  const key = `${entry.metadata.namespace ?? 'default'}/${entry.metadata.name}`;
  if (spec.resolution === 'NONE' && spec.addresses.length === 0)
    return [
      warning(
        entry,
        'spec.hosts',
        `${wildcards.join(', ')}: a NONE entry without addresses gives its wildcard hosts no VIP; clients resolve them with the cluster DNS and connect by address, which ztunnels pass through under ALLOW_ANY and refuse under REGISTRY_ONLY (list the addresses, or use DYNAMIC_DNS through a waypoint)`,
      ),
    ];
  if (spec.resolution !== 'DYNAMIC_DNS') return [];
  if (spec.location !== 'MESH_EXTERNAL')
    return [
      warning(
        entry,
        'spec.location',
        'DYNAMIC_DNS is served for MESH_EXTERNAL entries only: this one gets no VIP',
      ),
    ];
  const served = services.some(
    (service) => service.serviceEntry?.entry === key && service.waypoint !== undefined,
  );
  if (!served)
    return [
      warning(
        entry,
        'spec.resolution',
        `DYNAMIC_DNS hosts are resolved per request by the entry's waypoint, and no waypoint serves it (label it ${USE_WAYPOINT_LABEL}=<waypoint>): no VIP is allocated and the names are left to the cluster DNS`,
      ),
    ];
  return spec.ports.flatMap((port, index) =>
    ISTIO_HTTP_PROTOCOLS.includes(port.protocol) || ISTIO_TLS_PROTOCOLS.includes(port.protocol)
      ? []
      : [
          warning(
            entry,
            `spec.ports[${index}]`,
            `DYNAMIC_DNS resolves the HTTP Host header or the TLS SNI: ${port.protocol} port ${port.number} has no host to resolve, and its connections are refused`,
          ),
        ],
  );
}

/** Hosts that name a Service of this cluster (others may be external and are not checked). */
function isClusterHost(host: string): boolean {
  return host.endsWith(`.svc.${CLUSTER_DOMAIN}`) && !host.startsWith('*');
}

/** Builders for data-plane model objects in tests: every field defaulted, override what the test is about. */
import { spiffeUri } from '../../src/core/identity.ts';
import type {
  L4Condition,
  L4Policy,
  L4Rule,
  L4Source,
  L4Target,
  NodeSnapshot,
  PeerAuthPolicy,
  Service,
  Workload,
} from '../../src/core/model/index.ts';

export function workload(overrides: Partial<Workload> & { name: string }): Workload {
  const namespace = overrides.namespace ?? 'default';
  const serviceAccount = overrides.serviceAccount ?? overrides.name;
  return {
    uid: `${namespace}/${overrides.name}`,
    namespace,
    node: 'node-a',
    ips: ['10.244.0.10'],
    serviceAccount,
    identity: spiffeUri({ trustDomain: 'cluster.local', namespace, serviceAccount }),
    labels: { app: overrides.name },
    enrolled: true,
    canonicalName: overrides.name,
    canonicalRevision: 'latest',
    ...overrides,
  };
}

export function service(overrides: Partial<Service> & { name: string }): Service {
  const namespace = overrides.namespace ?? 'default';
  return {
    namespace,
    hostname: `${overrides.name}.${namespace}.svc.cluster.local`,
    vips: ['10.96.0.20'],
    ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }],
    endpoints: [],
    ...overrides,
  };
}

export function source(overrides: Partial<L4Source> = {}): L4Source {
  return {
    principals: [],
    notPrincipals: [],
    namespaces: [],
    notNamespaces: [],
    ipBlocks: [],
    notIpBlocks: [],
    ...overrides,
  };
}

export function target(overrides: Partial<L4Target> = {}): L4Target {
  return { ports: [], notPorts: [], ...overrides };
}

export function condition(key: L4Condition['key'], values: string[], notValues: string[] = []): L4Condition {
  return { key, values, notValues };
}

export function rule(overrides: Partial<L4Rule> = {}): L4Rule {
  return { from: [], to: [], when: [], ...overrides };
}

export function policy(overrides: Partial<L4Policy> & { name: string }): L4Policy {
  return { namespace: 'default', scope: 'namespace', action: 'ALLOW', rules: [rule()], ...overrides };
}

export function peerAuth(overrides: Partial<PeerAuthPolicy> & { name: string }): PeerAuthPolicy {
  return { namespace: 'default', scope: 'namespace', mode: 'STRICT', portLevelMtls: {}, ...overrides };
}

export function snapshot(overrides: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    version: '1',
    workloads: [],
    services: [],
    policies: [],
    peerAuthentications: [],
    trustBundle: [],
    ...overrides,
  };
}

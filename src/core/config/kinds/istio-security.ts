/**
 * Istio security kinds: AuthorizationPolicy and PeerAuthentication (`security.istio.io/v1`, also served as
 * `v1beta1`). Parsed and checked as Istio's validation does; the control plane translates them for the
 * ztunnel (L4 part) and the waypoint (everything).
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { HTTP_METHODS, ipOrCidr, isIpOrCidr, nonEmptyStrings, workloadSelector } from './common.ts';

export const ISTIO_SECURITY_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'] as const;

/** A policy's attachment to a Gateway (a waypoint) or a Service, instead of a workload selector. */
export interface PolicyTargetRef {
  group: string;
  kind: string;
  name: string;
}

export interface AuthorizationSource {
  principals: string[];
  notPrincipals: string[];
  requestPrincipals: string[];
  notRequestPrincipals: string[];
  namespaces: string[];
  notNamespaces: string[];
  ipBlocks: string[];
  notIpBlocks: string[];
  remoteIpBlocks: string[];
  notRemoteIpBlocks: string[];
  /** `<namespace>/<name>` or `<name>` (the policy's namespace), exclusive with principals and namespaces. */
  serviceAccounts: string[];
  notServiceAccounts: string[];
  /** The trust domain of the peer's SPIFFE identity (exact, `*`, prefix `x*` or suffix `*x`). */
  trustDomains: string[];
  notTrustDomains: string[];
}

export interface AuthorizationOperation {
  hosts: string[];
  notHosts: string[];
  ports: number[];
  notPorts: number[];
  methods: string[];
  notMethods: string[];
  paths: string[];
  notPaths: string[];
}

export interface AuthorizationCondition {
  key: string;
  values: string[];
  notValues: string[];
}

export interface AuthorizationRule {
  from: AuthorizationSource[];
  to: AuthorizationOperation[];
  when: AuthorizationCondition[];
}

export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface AuthorizationPolicySpec {
  selector?: Record<string, string> | undefined;
  targetRefs: PolicyTargetRef[];
  action: AuthorizationAction;
  provider?: { name: string } | undefined;
  /** An ALLOW policy without rules allows nothing (`spec: {}` denies all traffic in its scope). */
  rules: AuthorizationRule[];
}

export type MutualTlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthenticationSpec {
  selector?: Record<string, string> | undefined;
  mode: MutualTlsMode;
  portLevelMtls: Record<number, MutualTlsMode>;
}

const SOURCE_KEYS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
] as const;

const OPERATION_KEYS = [
  'hosts',
  'notHosts',
  'ports',
  'notPorts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const;

/** Condition keys Istio knows; `[...]` marks a key that takes a header or claim name. */
const CONDITION_KEYS = [
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'source.trustDomain',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni',
];
const IP_CONDITION_KEYS = new Set(['source.ip', 'remote.ip', 'destination.ip']);

const SERVICE_ACCOUNT = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function source(field: Field): AuthorizationSource | undefined {
  const object = field.object(SOURCE_KEYS);
  if (!object) return undefined;
  const lists = {} as Record<(typeof SOURCE_KEYS)[number], string[]>;
  for (const key of SOURCE_KEYS) {
    const child = object.child(key);
    const lower = key.toLowerCase();
    if (lower.endsWith('ipblocks')) lists[key] = child.list(ipOrCidr) ?? [];
    else if (lower.endsWith('serviceaccounts')) {
      lists[key] =
        child.list((item) =>
          item.string({
            required: true,
            pattern: SERVICE_ACCOUNT,
            patternHint: 'use <namespace>/<service account> or <service account>',
          }),
        ) ?? [];
    } else lists[key] = nonEmptyStrings(child) ?? [];
  }
  if (SOURCE_KEYS.every((key) => !object.child(key).present))
    field.error('a source must set at least one field');
  exclusiveWith(object, 'serviceAccounts', ['principals', 'namespaces']);
  exclusiveWith(object, 'notServiceAccounts', ['notPrincipals', 'notNamespaces']);
  return lists;
}

function exclusiveWith(object: Field, key: string, others: readonly string[]): void {
  if (!object.child(key).present) return;
  for (const other of others) {
    if (object.child(other).present) object.child(key).error(`${key} cannot be used together with ${other}`);
  }
}

function ports(field: Field): number[] {
  return (
    field.list((item) => {
      if (typeof item.value === 'number') {
        return item.error(
          `expected a string, got number ${item.value}: ports are quoted in AuthorizationPolicy ("${item.value}")`,
        );
      }
      const text = item.string({ required: true, nonEmpty: true });
      if (text === undefined) return undefined;
      const port = Number(text);
      if (!/^\d+$/.test(text) || port < 1 || port > 65535)
        return item.error(`invalid port ${JSON.stringify(text)}: use 1-65535`);
      return port;
    }) ?? []
  );
}

function operation(field: Field): AuthorizationOperation | undefined {
  const object = field.object(OPERATION_KEYS);
  if (!object) return undefined;
  if (OPERATION_KEYS.every((key) => !object.child(key).present))
    field.error('an operation must set at least one field');
  const methods = (key: string) =>
    object.child(key).list((item) => {
      const method = item.string({ required: true, nonEmpty: true });
      if (method !== undefined && !(HTTP_METHODS as readonly string[]).includes(method) && method !== '*') {
        item.warn(`${JSON.stringify(method)} is not a standard HTTP method (gRPC methods belong in paths)`);
      }
      return method;
    }) ?? [];
  const paths = (key: string) =>
    object.child(key).list((item) => {
      const path = item.string({ required: true, nonEmpty: true });
      if (path?.includes('{') && !/^(\/(\{\*\*?\}|[^{}/]*))+$/.test(path)) {
        return item.error(
          `invalid path template ${JSON.stringify(path)}: use {*} or {**} as whole path segments`,
        );
      }
      return path;
    }) ?? [];
  return {
    hosts: nonEmptyStrings(object.child('hosts')) ?? [],
    notHosts: nonEmptyStrings(object.child('notHosts')) ?? [],
    ports: ports(object.child('ports')),
    notPorts: ports(object.child('notPorts')),
    methods: methods('methods'),
    notMethods: methods('notMethods'),
    paths: paths('paths'),
    notPaths: paths('notPaths'),
  };
}

function knownConditionKey(key: string): boolean {
  return (
    CONDITION_KEYS.includes(key) ||
    /^request\.headers\[[^\]]+\]$/.test(key) ||
    /^request\.auth\.claims(\[[^\]]+\])+$/.test(key) ||
    key.startsWith('experimental.envoy.filters.')
  );
}

function condition(field: Field): AuthorizationCondition | undefined {
  const object = field.object(['key', 'values', 'notValues'], { required: true });
  if (!object) return undefined;
  const key = object.child('key').string({ required: true, nonEmpty: true });
  if (key !== undefined && !knownConditionKey(key)) {
    object
      .child('key')
      .error(
        `unknown condition key ${JSON.stringify(key)} (known: ${CONDITION_KEYS.join(', ')}, request.headers[...], request.auth.claims[...])`,
      );
  }
  const values = (name: 'values' | 'notValues') =>
    object.child(name).list((item) => {
      const value = item.string({ required: true, nonEmpty: true });
      if (value === undefined || key === undefined) return value;
      if (IP_CONDITION_KEYS.has(key) && !isIpOrCidr(value))
        return item.error(`invalid IP address or CIDR block ${JSON.stringify(value)}`);
      if (
        key === 'destination.port' &&
        !(/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 65535)
      ) {
        return item.error(`invalid port ${JSON.stringify(value)}: use 1-65535`);
      }
      return value;
    }) ?? [];
  const result = { key: key ?? '', values: values('values'), notValues: values('notValues') };
  if (!object.child('values').present && !object.child('notValues').present)
    object.error('set values or notValues');
  return key === undefined ? undefined : result;
}

function rule(field: Field, action: AuthorizationAction): AuthorizationRule | undefined {
  const object = field.object(['from', 'to', 'when'], { required: true });
  if (!object) return undefined;
  const entries = <T>(
    key: 'from' | 'to',
    inner: 'source' | 'operation',
    parse: (f: Field) => T | undefined,
  ) =>
    object.child(key).list(
      (item) => {
        const entry = item.object([inner], { required: true });
        if (!entry) return undefined;
        const innerField = entry.child(inner);
        if (!innerField.present) return innerField.error('required field is missing');
        return parse(innerField);
      },
      { nonEmpty: true },
    ) ?? [];
  const parsed = {
    from: entries('from', 'source', source),
    to: entries('to', 'operation', operation),
    when: object.child('when').list(condition) ?? [],
  };
  if (action === 'CUSTOM') {
    for (const key of CUSTOM_UNSUPPORTED) {
      if (parsed.from.some((from) => from[key].length > 0))
        object.child('from').error(`source.${key} is not supported with action CUSTOM`);
    }
  }
  if (action === 'DENY') {
    // Istio's warning: a DENY rule whose only conditions are HTTP ones denies all TCP traffic in its scope.
    const l4From = parsed.from.some((from) => L4_SOURCE_KEYS.some((key) => from[key].length > 0));
    const l4To = parsed.to.some((to) => to.ports.length > 0 || to.notPorts.length > 0);
    if ((parsed.from.length > 0 && parsed.to.length === 0 && !l4From) || (parsed.to.length > 0 && !l4To)) {
      field.warn(
        'this DENY rule uses only HTTP attributes, so it denies all TCP traffic in its scope: specify ports',
      );
    }
  }
  return parsed;
}

const CUSTOM_UNSUPPORTED = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
] as const;
const L4_SOURCE_KEYS = [
  'principals',
  'notPrincipals',
  'namespaces',
  'notNamespaces',
  'ipBlocks',
  'notIpBlocks',
  'serviceAccounts',
  'notServiceAccounts',
] as const;

const TARGET_KINDS: Record<string, string> = {
  Service: '',
  ServiceEntry: 'networking.istio.io',
  Gateway: 'gateway.networking.k8s.io',
  GatewayClass: 'gateway.networking.k8s.io',
};

/** A policy's `targetRef`: a Service, ServiceEntry, Gateway or GatewayClass in the policy's namespace. */
export function policyTargetRef(field: Field): PolicyTargetRef | undefined {
  const object = field.object(['group', 'kind', 'name', 'namespace'], { required: true });
  if (!object) return undefined;
  const kind = object.child('kind').oneOf(Object.keys(TARGET_KINDS), { required: true });
  const group = object.child('group').string() ?? '';
  const name = object.child('name').string({ required: true, nonEmpty: true });
  if (object.child('namespace').present) {
    object.child('namespace').error('cross-namespace targetRefs are not supported: remove namespace');
  }
  if (kind !== undefined && TARGET_KINDS[kind] !== (group === 'core' ? '' : group)) {
    object
      .child('group')
      .error(
        `kind ${kind} belongs to group ${JSON.stringify(TARGET_KINDS[kind])}, not ${JSON.stringify(group)}`,
      );
  }
  return kind === undefined || name === undefined ? undefined : { group, kind, name };
}

function parseAuthorizationPolicy(doc: Field): AuthorizationPolicySpec | undefined {
  const spec = doc
    .child('spec')
    .object(['selector', 'targetRef', 'targetRefs', 'action', 'provider', 'rules']);
  // `spec` may be absent or empty: an ALLOW policy with no rules, which denies everything in its scope.
  const fields = spec ?? doc.child('spec');
  if (spec) spec.exclusive(['selector', 'targetRef', 'targetRefs']);
  const action = fields.child('action').oneOf(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const) ?? 'ALLOW';
  let provider: AuthorizationPolicySpec['provider'];
  const providerField = fields.child('provider').object(['name']);
  if (providerField) {
    const name = providerField.child('name').string({ required: true, nonEmpty: true });
    if (action !== 'CUSTOM') providerField.error(`provider is only used with action CUSTOM, not ${action}`);
    if (name !== undefined) provider = { name };
  } else if (action === 'CUSTOM') {
    fields.child('provider').error('action CUSTOM needs provider.name');
  }
  const rulesField = fields.child('rules');
  if (!rulesField.present && (action === 'DENY' || action === 'CUSTOM')) {
    rulesField.error(`a ${action} policy without rules never applies: add a rule ({} matches every request)`);
  }
  const targetRefs: PolicyTargetRef[] = [];
  const single = fields.child('targetRef').present ? policyTargetRef(fields.child('targetRef')) : undefined;
  if (single) targetRefs.push(single);
  targetRefs.push(...(fields.child('targetRefs').list(policyTargetRef) ?? []));
  return {
    selector: fields.child('selector').present ? workloadSelector(fields.child('selector')) : undefined,
    targetRefs,
    action,
    provider,
    rules: rulesField.list((item) => rule(item, action)) ?? [],
  };
}

function mtlsMode(field: Field): MutualTlsMode | undefined {
  const object = field.object(['mode']);
  if (!object) return undefined;
  return object.child('mode').oneOf(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const) ?? 'UNSET';
}

function parsePeerAuthentication(doc: Field): PeerAuthenticationSpec | undefined {
  const spec = doc.child('spec').object(['selector', 'mtls', 'portLevelMtls']);
  const fields = spec ?? doc.child('spec');
  const selector = fields.child('selector').present ? workloadSelector(fields.child('selector')) : undefined;
  const portLevelField = fields.child('portLevelMtls');
  const portLevelMtls: Record<number, MutualTlsMode> = {};
  const parsedPorts = portLevelField.map((item, key) => {
    const port = Number(key);
    if (!/^\d+$/.test(key) || port < 1 || port > 65535)
      return item.error(`invalid port ${JSON.stringify(key)}: use 1-65535`);
    return mtlsMode(item) ?? item.error('required field is missing');
  });
  for (const [key, mode] of Object.entries(parsedPorts ?? {})) portLevelMtls[Number(key)] = mode;
  if (portLevelField.present) {
    if (!selector || Object.keys(selector).length === 0) {
      portLevelField.error(
        'port-level mTLS needs a workload selector (mesh and namespace policies cannot have it)',
      );
    }
    if (parsedPorts && portLevelField.keys().length === 0) portLevelField.error('must not be empty');
  }
  return { selector, mode: mtlsMode(fields.child('mtls')) ?? 'UNSET', portLevelMtls };
}

export const AUTHORIZATION_POLICY: KindDefinition<AuthorizationPolicySpec> = {
  kind: 'AuthorizationPolicy',
  apiVersions: ISTIO_SECURITY_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => parseAuthorizationPolicy(doc),
};

export const PEER_AUTHENTICATION: KindDefinition<PeerAuthenticationSpec> = {
  kind: 'PeerAuthentication',
  apiVersions: ISTIO_SECURITY_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => parsePeerAuthentication(doc),
};

/**
 * AuthorizationPolicy -> L7AuthorizationPolicy for one waypoint. A policy concerns the waypoint when a
 * `targetRefs` entry names its Gateway (same namespace), the `istio-waypoint` GatewayClass (policy in the
 * root namespace, as Istio requires), or a Service it serves (same namespace). Strings become typed matchers
 * once, here. Request principals and `request.auth.*` keys read the JWT the waypoint verified for the
 * request (RequestAuthentication). What a waypoint cannot know fails closed, as the ztunnel's translation
 * does: an ALLOW rule using it is dropped (it could never match) and a DENY rule keeps the rest (it denies
 * more). CUSTOM
 * (external authorization) is not supported: its rules become DENY rules, so what the external authorizer
 * would have checked is refused rather than let through.
 */
import type {
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationPolicySpec,
  AuthorizationSource,
} from '../../../core/config/kinds/istio-security.ts';
import type {
  L7AuthorizationPolicy,
  L7Condition,
  L7Operation,
  L7Rule,
  L7Source,
  StringConditionKey,
} from '../../../core/l7/types.ts';
import { ROOT_NAMESPACE, WAYPOINT_GATEWAY_CLASS } from '../../../core/labels.ts';
import type { NamedConfig, WaypointRef } from '../../../core/model/index.ts';
import { policyMatcher } from '../../../core/policy/string-match.ts';
import { serviceAccountPrincipal } from '../authorization.ts';
import type { CompileNote } from './notes.ts';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/**
 * Who the policy is compiled for: a waypoint (the `istio-waypoint` GatewayClass reaches it), an ingress
 * gateway (only a targetRef to its own Gateway or a Service reaches it; Istio's GatewayClass attachment is
 * for waypoints), or a gateway deployment whose pods the policy's `selector` picks (the whole proxy).
 */
export type PolicySubscriber = 'waypoint' | 'ingress' | 'selected';

export interface L7PolicyTranslation {
  /** Undefined when the policy does not concern this waypoint. */
  policy?: L7AuthorizationPolicy | undefined;
  notes: CompileNote[];
}

export function toL7Policy(
  resource: NamedConfig<AuthorizationPolicySpec>,
  waypoint: WaypointRef,
  servedServices: readonly { name: string; namespace: string; hostname: string }[],
  trustDomain: string,
  subscriber: PolicySubscriber = 'waypoint',
): L7PolicyTranslation {
  const { spec, namespace, name } = resource;
  const config = { kind: 'AuthorizationPolicy', namespace, name };
  let wholeWaypoint = subscriber === 'selected';
  const hostnames: string[] = [];
  for (const ref of spec.targetRefs) {
    if (ref.kind === 'Gateway' && ref.group === GATEWAY_GROUP) {
      wholeWaypoint ||= ref.name === waypoint.name && namespace === waypoint.namespace;
    } else if (ref.kind === 'GatewayClass' && ref.group === GATEWAY_GROUP) {
      wholeWaypoint ||=
        subscriber === 'waypoint' && ref.name === WAYPOINT_GATEWAY_CLASS && namespace === ROOT_NAMESPACE;
    } else if (ref.kind === 'Service' && ref.group === '') {
      const service = servedServices.find((s) => s.name === ref.name && s.namespace === namespace);
      if (service) hostnames.push(service.hostname);
    }
  }
  if (!wholeWaypoint && hostnames.length === 0) return { notes: [] };
  const notes: CompileNote[] = [];
  const action = spec.action === 'CUSTOM' ? 'DENY' : spec.action;
  if (spec.action === 'CUSTOM') {
    notes.push({
      ...config,
      path: 'spec.action',
      message:
        'CUSTOM (external authorization) is not supported by Ambit: the waypoint denies the requests its rules match instead of asking the provider',
    });
  }
  const rules: L7Rule[] = [];
  spec.rules.forEach((rule, index) => {
    const unsupported: string[] = [];
    const compiled: L7Rule = {
      from: rule.from.map((source) => toSource(source, namespace, trustDomain, unsupported)),
      to: rule.to.map(toOperation),
      when: rule.when.flatMap((condition) => toCondition(condition, unsupported)),
    };
    if (unsupported.length === 0) {
      rules.push(compiled);
      return;
    }
    const found = [...new Set(unsupported)].join(', ');
    if (action === 'ALLOW') {
      notes.push({
        ...config,
        path: `spec.rules[${index}]`,
        message: `the waypoint cannot evaluate ${found}: this ALLOW rule is dropped and allows nothing`,
      });
    } else {
      rules.push(compiled);
      notes.push({
        ...config,
        path: `spec.rules[${index}]`,
        message: `the waypoint cannot evaluate ${found}: this ${action} rule applies without it`,
      });
    }
  });
  return {
    policy: {
      name,
      namespace,
      action,
      appliesTo: wholeWaypoint ? { kind: 'waypoint' } : { kind: 'services', hostnames },
      rules,
    },
    notes,
  };
}

/** Istio's string forms, parsed once; `{*}`/`{**}` make URI templates in paths only. */
const matchers = (values: readonly string[], templates = false) =>
  values.map((value) => policyMatcher(value, { templates }));
const lowerMatchers = (values: readonly string[]) => matchers(values.map((value) => value.toLowerCase()));

function toSource(
  source: AuthorizationSource,
  namespace: string,
  trustDomain: string,
  unsupported: string[],
): L7Source {
  // Not in the waypoint's policy model yet: unsupported, so the rule fails closed like the others.
  if (source.trustDomains.length > 0) unsupported.push('trustDomains');
  if (source.notTrustDomains.length > 0) unsupported.push('notTrustDomains');
  const principals = (direct: readonly string[], accounts: readonly string[]) =>
    matchers([...direct, ...accounts.map((sa) => serviceAccountPrincipal(sa, namespace, trustDomain))]);
  return {
    principals: principals(source.principals, source.serviceAccounts),
    notPrincipals: principals(source.notPrincipals, source.notServiceAccounts),
    namespaces: matchers(source.namespaces),
    notNamespaces: matchers(source.notNamespaces),
    ipBlocks: source.ipBlocks,
    notIpBlocks: source.notIpBlocks,
    remoteIpBlocks: source.remoteIpBlocks,
    notRemoteIpBlocks: source.notRemoteIpBlocks,
    requestPrincipals: matchers(source.requestPrincipals),
    notRequestPrincipals: matchers(source.notRequestPrincipals),
  };
}

function toOperation(operation: AuthorizationOperation): L7Operation {
  return {
    hosts: lowerMatchers(operation.hosts),
    notHosts: lowerMatchers(operation.notHosts),
    ports: operation.ports,
    notPorts: operation.notPorts,
    methods: matchers(operation.methods),
    notMethods: matchers(operation.notMethods),
    paths: matchers(operation.paths, true),
    notPaths: matchers(operation.notPaths, true),
  };
}

const STRING_KEYS: Record<string, StringConditionKey> = {
  'source.namespace': { kind: 'sourceNamespace' },
  'source.principal': { kind: 'sourcePrincipal' },
  'destination.port': { kind: 'destinationPort' },
  'connection.sni': { kind: 'sni' },
  'request.auth.principal': { kind: 'authPrincipal' },
  'request.auth.audiences': { kind: 'authAudiences' },
  'request.auth.presenter': { kind: 'authPresenter' },
};

/** `request.auth.claims[a][b]` -> `['a', 'b']`. */
function claimPath(key: string): string[] | undefined {
  if (!key.startsWith('request.auth.claims[')) return undefined;
  return [...key.slice('request.auth.claims'.length).matchAll(/\[([^\]]+)\]/g)].map((match) => match[1]!);
}

function toCondition(condition: AuthorizationCondition, unsupported: string[]): L7Condition[] {
  const { key, values, notValues } = condition;
  switch (key) {
    case 'source.ip':
      return [{ kind: 'ip', key: { kind: 'sourceIp' }, values, notValues }];
    case 'remote.ip':
      return [{ kind: 'ip', key: { kind: 'remoteIp' }, values, notValues }];
    case 'destination.ip':
      return [{ kind: 'ip', key: { kind: 'destinationIp' }, values, notValues }];
  }
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  const claim = claimPath(key);
  const stringKey: StringConditionKey | undefined = header
    ? { kind: 'requestHeader' as const, name: header[1]!.toLowerCase() }
    : claim
      ? { kind: 'authClaim' as const, path: claim }
      : STRING_KEYS[key];
  if (!stringKey) {
    unsupported.push(`when ${key}`);
    return [];
  }
  // Ports compare as text; every other string key takes Istio's prefix/suffix/any forms.
  const convert =
    stringKey.kind === 'destinationPort'
      ? (list: readonly string[]) => list.map((value) => ({ kind: 'exact' as const, value }))
      : matchers;
  return [{ kind: 'string', key: stringKey, values: convert(values), notValues: convert(notValues) }];
}

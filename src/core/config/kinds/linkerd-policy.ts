/**
 * Linkerd's local rate limit kind, `HTTPLocalRateLimitPolicy` (`policy.linkerd.io/v1alpha1`): the config kind
 * the ecosystem already has for per-proxy token buckets, enforced here by the waypoint of the target. Linkerd
 * targets its own `Server` kind; Ambit has none, so `targetRef` names a Service of the policy's namespace.
 * Validated as Linkerd's CRD schema and admission webhook do: `identity` and each override at most `total`,
 * overrides naming ServiceAccounts.
 */
import type { Field } from '../field.ts';
import { DNS_LABEL, type KindDefinition } from '../resource.ts';

export const LINKERD_POLICY_VERSIONS = ['policy.linkerd.io/v1alpha1'] as const;

export interface RateLimitClientRef {
  /** Defaults to the policy's namespace. */
  namespace?: string | undefined;
  name: string;
}

export interface RateLimitOverride {
  requestsPerSecond: number;
  clientRefs: RateLimitClientRef[];
}

export interface HTTPLocalRateLimitPolicySpec {
  /** A Service in the policy's namespace. */
  targetRef: { name: string };
  /** All clients together; undefined: no overall limit. */
  total?: number | undefined;
  /** Each client identity on its own; undefined: none. */
  identity?: number | undefined;
  /** Limits for particular clients instead of `identity`. */
  overrides: RateLimitOverride[];
}

/** Linkerd's schema: `requestsPerSecond` is an int32 of at least 1 (0 would refuse every request). */
const RATE = { required: true, min: 1, max: 2 ** 31 - 1 } as const;

function limit(field: Field): number | undefined {
  const object = field.object(['requestsPerSecond']);
  return object?.child('requestsPerSecond').integer(RATE);
}

function targetRef(field: Field): { name: string } | undefined {
  const object = field.object(['group', 'kind', 'name'], { required: true });
  if (!object) return undefined;
  const group = object.child('group').string() ?? '';
  const kind = object.child('kind').string({ required: true });
  const name = object
    .child('name')
    .string({ required: true, pattern: DNS_LABEL, patternHint: 'a Service name' });
  if (kind === 'Server' && group === 'policy.linkerd.io') {
    object
      .child('kind')
      .error('Ambit has no Linkerd Server kind: target the Service (kind: Service, group: "") instead');
    return undefined;
  }
  if (kind !== undefined && kind !== 'Service') {
    object.child('kind').error(`invalid value ${JSON.stringify(kind)}: must be Service`);
    return undefined;
  }
  if (group !== '' && group !== 'core') {
    object.child('group').error(`kind Service belongs to the core group (""), not ${JSON.stringify(group)}`);
    return undefined;
  }
  return name === undefined ? undefined : { name };
}

function clientRef(field: Field): RateLimitClientRef | undefined {
  const object = field.object(['group', 'kind', 'namespace', 'name'], { required: true });
  if (!object) return undefined;
  const group = object.child('group').string() ?? '';
  if (group !== '' && group !== 'core')
    object
      .child('group')
      .error(`kind ServiceAccount belongs to the core group (""), not ${JSON.stringify(group)}`);
  object.child('kind').oneOf(['ServiceAccount'] as const, { required: true });
  const namespace = object
    .child('namespace')
    .string({ pattern: DNS_LABEL, patternHint: 'a namespace name (DNS label)' });
  const name = object.child('name').string({ required: true, nonEmpty: true });
  return name === undefined ? undefined : { namespace, name };
}

function parseRateLimitPolicy(doc: Field): HTTPLocalRateLimitPolicySpec | undefined {
  const spec = doc.child('spec').object(['targetRef', 'total', 'identity', 'overrides'], { required: true });
  if (!spec) return undefined;
  const target = targetRef(spec.child('targetRef'));
  const total = limit(spec.child('total'));
  const identity = limit(spec.child('identity'));
  const overridesField = spec.child('overrides');
  const overrides =
    overridesField.list((item) => {
      const object = item.object(['requestsPerSecond', 'clientRefs'], { required: true });
      if (!object) return undefined;
      const requestsPerSecond = object.child('requestsPerSecond').integer(RATE);
      const clientRefs = object.child('clientRefs').list(clientRef, { required: true, nonEmpty: true });
      if (requestsPerSecond !== undefined && total !== undefined && requestsPerSecond > total)
        object
          .child('requestsPerSecond')
          .error(`must be at most total.requestsPerSecond (${total}), got ${requestsPerSecond}`);
      return requestsPerSecond === undefined || clientRefs === undefined
        ? undefined
        : { requestsPerSecond, clientRefs };
    }) ?? [];
  if (identity !== undefined && total !== undefined && identity > total)
    spec
      .child('identity')
      .child('requestsPerSecond')
      .error(`must be at most total.requestsPerSecond (${total}), got ${identity}`);
  if (target === undefined) return undefined;
  return { targetRef: target, total, identity, overrides };
}

export const HTTP_LOCAL_RATE_LIMIT_POLICY: KindDefinition<HTTPLocalRateLimitPolicySpec> = {
  kind: 'HTTPLocalRateLimitPolicy',
  apiVersions: LINKERD_POLICY_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => parseRateLimitPolicy(doc),
};

/**
 * Field types shared by the mesh kinds: string matches, selectors, hostnames, addresses, percentages,
 * header names. Each reader validates as Istio (or Kubernetes) does and reports through the Field, so every
 * message names the exact field.
 */
import { isIP } from 'node:net';
import type { Field } from '../field.ts';
import { compileRe2 } from '../regex.ts';
import { DNS_LABEL } from '../resource.ts';

/** Istio's StringMatch: exactly one of `exact`, `prefix`, `regex`. */
export type StringMatch = { exact: string } | { prefix: string } | { regex: string };

export function stringMatch(field: Field, options: { required?: boolean } = {}): StringMatch | undefined {
  const object = field.object(['exact', 'prefix', 'regex'], options);
  if (!object) return undefined;
  const set = (['exact', 'prefix', 'regex'] as const).filter((key) => object.child(key).present);
  if (set.length === 0) return field.error('set one of exact, prefix or regex');
  if (set.length > 1) return field.error(`${set.join(' and ')} are mutually exclusive: set only one`);
  const key = set[0]!;
  const value = object.child(key).string({ required: true });
  if (value === undefined) return undefined;
  if (key === 'prefix' && value === '') return object.child(key).error('prefix must not be empty');
  if (key === 'regex' && !regex(object.child(key), value)) return undefined;
  return { [key]: value } as StringMatch;
}

/** Checks that `pattern` compiles as an RE2 regex (Istio's syntax); reports on `field` if not. */
export function regex(field: Field, pattern: string): boolean {
  const compiled = compileRe2(pattern);
  if (compiled.error !== undefined) {
    field.error(`${compiled.error} in ${JSON.stringify(pattern)}`);
    return false;
  }
  return true;
}

/** A map of header (or query parameter) names to string matches. */
export function stringMatchMap(
  field: Field,
  nameCheck: 'header' | 'any',
): Record<string, StringMatch> | undefined {
  return field.map((item, key) => {
    if (nameCheck === 'header' && !HEADER_NAME.test(key)) {
      return item.error(`invalid header name ${JSON.stringify(key)}: use letters, digits, - and _`);
    }
    // An empty match `{}` asks only that the header be present: kept as the empty prefix, which every value has.
    if (item.present && item.keys().length === 0) return { prefix: '' } as StringMatch;
    return stringMatch(item, { required: true });
  });
}

export const HEADER_NAME = /^[-_A-Za-z0-9]+$/;

/** A header name in a header operation (set/add/remove): not empty, not an HTTP/2 pseudo-header. */
export function headerOperationName(field: Field, name: string, allowAuthority: boolean): boolean {
  if (name === '') {
    field.error('header name must not be empty');
    return false;
  }
  if (name.startsWith(':') && !(allowAuthority && name === ':authority')) {
    field.error(`invalid header ${JSON.stringify(name)}: pseudo-headers (":" prefix) cannot be changed`);
    return false;
  }
  return true;
}

/** Istio's WorkloadSelector: `matchLabels` only, no wildcards. */
export function workloadSelector(field: Field): Record<string, string> | undefined {
  const object = field.object(['matchLabels']);
  if (!object) return undefined;
  const labels = object.child('matchLabels').labels() ?? {};
  for (const [key, value] of Object.entries(labels)) {
    if (key.includes('*') || value.includes('*')) {
      object.child('matchLabels').child(key).error('wildcards are not supported in selectors');
    }
  }
  if (Object.keys(labels).length === 0) {
    field.warn('selector without labels selects every workload in the namespace');
  }
  return labels;
}

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

/** Kubernetes' LabelSelector: `matchLabels` and `matchExpressions`, ANDed; an empty selector matches all. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

export function labelSelector(field: Field, options: { required?: boolean } = {}): LabelSelector | undefined {
  const object = field.object(['matchLabels', 'matchExpressions'], options);
  if (!object) return undefined;
  const matchLabels = object.child('matchLabels').labels() ?? {};
  const matchExpressions =
    object.child('matchExpressions').list((item) => {
      const expression = item.object(['key', 'operator', 'values'], { required: true });
      if (!expression) return undefined;
      const key = expression.child('key').string({ required: true, nonEmpty: true });
      const operator = expression
        .child('operator')
        .oneOf(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, { required: true });
      const values = expression.child('values').strings() ?? [];
      if (operator === 'In' || operator === 'NotIn') {
        if (values.length === 0) expression.child('values').error(`operator ${operator} needs values`);
      } else if (operator !== undefined && values.length > 0) {
        expression.child('values').error(`operator ${operator} takes no values`);
      }
      if (key === undefined || operator === undefined) return undefined;
      return { key, operator, values };
    }) ?? [];
  return { matchLabels, matchExpressions };
}

const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$/;

/** A DNS name of letters, digits and -, optionally after a leading `*.` wildcard. */
export function isDnsHostname(host: string): boolean {
  const name = host.startsWith('*.') ? host.slice(2) : host;
  return host.length <= 255 && name.split('.').every((label) => HOST_LABEL.test(label));
}

/**
 * A hostname as Istio's routing config accepts it: a DNS name (short like `reviews` or fully qualified),
 * optionally with a leading `*` wildcard (`*.example.com`, or `*` alone when `allowStar`).
 */
export function hostname(
  field: Field,
  options: { allowStar?: boolean; allowIp?: boolean } = {},
): string | undefined {
  const host = field.string({ required: true, nonEmpty: true });
  if (host === undefined) return undefined;
  if (host === '*')
    return options.allowStar ? host : field.error('the wildcard host "*" is not allowed here');
  if (options.allowIp && isIP(host)) return host;
  if (!isDnsHostname(host)) {
    return field.error(
      `invalid hostname ${JSON.stringify(host)}: use DNS labels of letters, digits and -, optionally after "*."`,
    );
  }
  return host;
}

/** An IPv4/IPv6 address or CIDR block (`10.0.0.0/8`, `2001:db8::/32`, `10.1.2.3`). */
export function ipOrCidr(field: Field): string | undefined {
  const value = field.string({ required: true, nonEmpty: true });
  if (value === undefined) return undefined;
  if (!isIpOrCidr(value)) {
    return field.error(`invalid IP address or CIDR block ${JSON.stringify(value)}`);
  }
  return value;
}

export function isIpOrCidr(value: string): boolean {
  const [address, prefix, extra] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** Istio's Percent: `{value: <0..100>}`. */
export function percent(field: Field): number | undefined {
  const object = field.object(['value']);
  if (!object) return undefined;
  const value = object.child('value').number({ required: true, min: 0, max: 100 });
  return value;
}

/** Istio's PortSelector: `{number: <port>}`. */
export function portSelector(field: Field): number | undefined {
  const object = field.object(['number']);
  if (!object) return undefined;
  return object.child('number').port({ required: true });
}

/** A namespace name (DNS-1123 label). */
export function namespaceName(field: Field, presence: { required?: boolean } = {}): string | undefined {
  return field.string({
    ...presence,
    pattern: DNS_LABEL,
    patternHint: 'namespaces are lowercase alphanumerics and - (DNS-1123 label)',
  });
}

/** Istio's `exportTo`: `.` (this namespace), `*` (all), `~` (none) or namespace names. */
export function exportTo(field: Field): string[] {
  return (
    field.list((item) => {
      const value = item.string({ required: true, nonEmpty: true });
      if (value === undefined) return undefined;
      if (value === '.' || value === '*' || value === '~' || DNS_LABEL.test(value)) return value;
      return item.error(`invalid exportTo value ${JSON.stringify(value)}: use ".", "*", "~" or a namespace`);
    }) ?? []
  );
}

export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** A list that must not contain empty strings (Istio rejects `""` in policy value lists). */
export function nonEmptyStrings(field: Field): string[] | undefined {
  return field.list((item) => item.string({ required: true, nonEmpty: true }));
}

/** Istio's port protocols, read case-insensitively as Istio does; the HTTP family and the TLS-carrying ones. */
export const ISTIO_PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'HTTP2',
  'GRPC',
  'GRPC-WEB',
  'HTTP_PROXY',
  'TCP',
  'TLS',
  'UDP',
  'MONGO',
  'REDIS',
  'MYSQL',
];
export const ISTIO_HTTP_PROTOCOLS = ['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY'];
export const ISTIO_TLS_PROTOCOLS = ['HTTPS', 'TLS'];

/** An Istio port protocol, upper-cased; reported (and undefined) if Istio does not know it. */
export function istioProtocol(field: Field, presence: { required?: boolean } = {}): string | undefined {
  const text = field.string({ ...presence, nonEmpty: true });
  if (text === undefined) return undefined;
  const protocol = text.toUpperCase();
  if (ISTIO_PROTOCOLS.includes(protocol)) return protocol;
  return field.error(`invalid protocol ${JSON.stringify(text)}: use one of ${ISTIO_PROTOCOLS.join(', ')}`);
}

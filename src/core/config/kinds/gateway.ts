/**
 * Gateway API kinds (`gateway.networking.k8s.io/v1`, also `v1beta1`): Gateway (class `istio-waypoint` makes
 * a waypoint), HTTPRoute and GRPCRoute. Parsed and checked as the Gateway API's schema and CEL rules do.
 * Durations are held in milliseconds.
 */
import { isIP } from 'node:net';
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { DNS_SUBDOMAIN } from '../resource.ts';
import {
  HEADER_NAME,
  HTTP_METHODS,
  type HttpMethod,
  hostname,
  type LabelSelector,
  labelSelector,
  namespaceName,
  regex,
} from './common.ts';

export const GATEWAY_API_VERSIONS = [
  'gateway.networking.k8s.io/v1',
  'gateway.networking.k8s.io/v1beta1',
] as const;
export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

// ---------------------------------------------------------------------------------------------------------
// Gateway

export interface GatewayListener {
  name: string;
  hostname?: string | undefined;
  port: number;
  protocol: string;
  tls?:
    | {
        mode: 'Terminate' | 'Passthrough';
        certificateRefs: { group: string; kind: string; name: string; namespace?: string | undefined }[];
        options: Record<string, string>;
      }
    | undefined;
  allowedRoutes: {
    namespaces: { from: 'All' | 'Same' | 'Selector'; selector?: LabelSelector | undefined };
    kinds: { group: string; kind: string }[];
  };
}

/** A reference to a Secret or ConfigMap (group "" for the core group). */
export interface ObjectRef {
  group: string;
  kind: string;
  name: string;
  namespace?: string | undefined;
}

/** Which namespaces' ListenerSets may add listeners to the Gateway (none by default). */
export interface AllowedListeners {
  from: 'All' | 'Same' | 'Selector' | 'None';
  selector?: LabelSelector | undefined;
}

/** Client-certificate validation of the Gateway's TLS listeners. */
export interface FrontendValidation {
  caCertificateRefs: ObjectRef[];
  mode: 'AllowValidOnly' | 'AllowInsecureFallback';
}

export interface GatewayTLS {
  /** The client certificate the Gateway presents to backends that ask for one. */
  backendClientCertificate?: ObjectRef | undefined;
  frontendDefault?: FrontendValidation | undefined;
  frontendPerPort: { port: number; validation?: FrontendValidation | undefined }[];
}

export interface GatewaySpec {
  gatewayClassName: string;
  listeners: GatewayListener[];
  /** Requested addresses; an absent value lets the implementation pick one of the type. */
  addresses: { type: string; value?: string | undefined }[];
  infrastructure?: { labels: Record<string, string>; annotations: Record<string, string> } | undefined;
  /** Absent: no ListenerSet may attach (the Gateway API default, `from: None`). */
  allowedListeners?: AllowedListeners | undefined;
  tls?: GatewayTLS | undefined;
}

export const SECTION_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PROTOCOL = /^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\/[a-zA-Z0-9]+)*$/;
const CORE_PROTOCOLS = ['HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP'];
/** Istio's own listener protocol for waypoints. */
const MESH_PROTOCOLS = ['HBONE'];

/** `{group, kind, name, namespace}` with the given defaults (Gateway API `SecretObjectReference` and kin). */
export function objectRef(field: Field, defaults: { group: string; kind: string }): ObjectRef | undefined {
  const ref = field.object(['group', 'kind', 'name', 'namespace'], { required: true });
  if (!ref) return undefined;
  const name = ref.child('name').string({ required: true, nonEmpty: true });
  const group = ref.child('group').string() ?? defaults.group;
  const kind = ref.child('kind').string({ nonEmpty: true }) ?? defaults.kind;
  if (group !== '' && !DNS_SUBDOMAIN.test(group))
    ref.child('group').error('a group is "" or a DNS subdomain');
  const namespace = namespaceName(ref.child('namespace'));
  return name === undefined ? undefined : { group, kind, name, namespace };
}

export function listener(field: Field): GatewayListener | undefined {
  const object = field.object(['name', 'hostname', 'port', 'protocol', 'tls', 'allowedRoutes'], {
    required: true,
  });
  if (!object) return undefined;
  const name = object.child('name').string({
    required: true,
    pattern: SECTION_NAME,
    patternHint: 'listener names are lowercase alphanumerics and - (DNS-1123 label)',
  });
  const host = object.child('hostname').present ? hostname(object.child('hostname')) : undefined;
  const port = object.child('port').port({ required: true });
  const protocol = object.child('protocol').string({
    required: true,
    pattern: PROTOCOL,
    patternHint: 'use HTTP, HTTPS, TLS, TCP, UDP, HBONE or a domain-prefixed protocol',
  });
  if (
    protocol !== undefined &&
    !CORE_PROTOCOLS.includes(protocol) &&
    !MESH_PROTOCOLS.includes(protocol) &&
    !protocol.includes('/')
  ) {
    // The schema takes any protocol name; an implementation marks the listener unsupported in its status.
    object
      .child('protocol')
      .warn(
        `protocol ${JSON.stringify(protocol)} is not supported by Ambit (${[...CORE_PROTOCOLS, ...MESH_PROTOCOLS].join(', ')} are): this listener is not served`,
      );
  }
  if ((protocol === 'HTTP' || protocol === 'TCP' || protocol === 'UDP') && object.child('tls').present) {
    object.child('tls').error(`${protocol} listeners take no tls settings`);
  }
  if ((protocol === 'HTTPS' || protocol === 'TLS') && !object.child('tls').present)
    object.child('tls').error(`${protocol} listeners need tls settings`);
  if ((protocol === 'TCP' || protocol === 'UDP') && host !== undefined) {
    object.child('hostname').error(`${protocol} listeners take no hostname`);
  }
  let tls: GatewayListener['tls'];
  const tlsField = object.child('tls').object(['mode', 'certificateRefs', 'options', 'frontendValidation']);
  if (tlsField) {
    const mode = tlsField.child('mode').oneOf(['Terminate', 'Passthrough'] as const) ?? 'Terminate';
    if (protocol === 'TLS' && !tlsField.child('mode').present)
      tlsField.child('mode').error('TLS listeners need a mode (Terminate or Passthrough)');
    const certificateRefs =
      tlsField.child('certificateRefs').list((item) => objectRef(item, { group: '', kind: 'Secret' })) ?? [];
    if (certificateRefs.length > 64) tlsField.child('certificateRefs').error('at most 64 certificateRefs');
    const options = tlsField.child('options').map((item) => item.string({ required: true })) ?? {};
    if (mode === 'Terminate' && certificateRefs.length === 0 && Object.keys(options).length === 0) {
      tlsField.child('certificateRefs').error('Terminate mode needs certificateRefs or options');
    }
    if (mode === 'Passthrough' && protocol === 'HTTPS')
      tlsField.child('mode').error('HTTPS listeners cannot use Passthrough: use protocol TLS');
    tls = { mode, certificateRefs, options };
  }
  const routes = object.child('allowedRoutes').object(['namespaces', 'kinds']);
  const namespacesField = routes?.child('namespaces').object(['from', 'selector']);
  const from = namespacesField?.child('from').oneOf(['All', 'Same', 'Selector'] as const) ?? 'Same';
  const selector = namespacesField ? labelSelector(namespacesField.child('selector')) : undefined;
  if (from === 'Selector' && !selector)
    namespacesField?.child('selector').error('from: Selector needs a selector');
  const kinds =
    routes?.child('kinds').list((item) => {
      const kind = item.object(['group', 'kind'], { required: true });
      if (!kind) return undefined;
      const kindName = kind.child('kind').string({ required: true, nonEmpty: true });
      return kindName === undefined
        ? undefined
        : { group: kind.child('group').string() ?? GATEWAY_API_GROUP, kind: kindName };
    }) ?? [];
  if (name === undefined || port === undefined || protocol === undefined) return undefined;
  return {
    name,
    hostname: host,
    port,
    protocol,
    tls,
    allowedRoutes: { namespaces: { from, selector }, kinds },
  };
}

function parseGateway(doc: Field): GatewaySpec | undefined {
  const spec = doc
    .child('spec')
    .object(
      [
        'gatewayClassName',
        'listeners',
        'addresses',
        'infrastructure',
        'allowedListeners',
        'tls',
        'defaultScope',
      ],
      { required: true },
    );
  if (!spec) return undefined;
  const gatewayClassName = spec.child('gatewayClassName').string({
    required: true,
    pattern: DNS_SUBDOMAIN,
    patternHint: 'class names are lowercase alphanumerics, - and . (DNS-1123 subdomain)',
  });
  const listenersField = spec.child('listeners');
  const listeners = listenersField.list(listener, { required: true, nonEmpty: true }) ?? [];
  if (listeners.length > 64) listenersField.error('at most 64 listeners');
  const names = new Set<string>();
  const combinations = new Set<string>();
  listeners.forEach((item) => {
    if (names.has(item.name))
      listenersField.error(`listener names must be unique: ${item.name} is used twice`);
    names.add(item.name);
    const combination = `${item.port}/${item.protocol}/${item.hostname ?? ''}`;
    if (combinations.has(combination)) {
      listenersField.error(
        `listeners ${item.name} and another share port ${item.port}, protocol and hostname`,
      );
    }
    combinations.add(combination);
  });
  const addresses = gatewayAddresses(spec.child('addresses'));
  if (spec.child('defaultScope').present) {
    spec.child('defaultScope').oneOf(['All', 'None'] as const);
    spec
      .child('defaultScope')
      .warn('defaultScope (default Gateways) is not supported by Ambit and is ignored');
  }
  const infra = spec.child('infrastructure').object(['labels', 'annotations', 'parametersRef']);
  if (infra?.child('parametersRef').present) infra.child('parametersRef').object(['group', 'kind', 'name']);
  if (gatewayClassName === undefined) return undefined;
  return {
    gatewayClassName,
    listeners,
    addresses,
    infrastructure: infra
      ? {
          labels: infra.child('labels').labels() ?? {},
          annotations: infra.child('annotations').map((item) => item.string({ required: true })) ?? {},
        }
      : undefined,
    allowedListeners: allowedListeners(spec.child('allowedListeners')),
    tls: gatewayTls(spec.child('tls')),
  };
}

const ADDRESS_HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function gatewayAddresses(field: Field): GatewaySpec['addresses'] {
  const addresses =
    field.list((item) => {
      const address = item.object(['type', 'value'], { required: true });
      if (!address) return undefined;
      const type = address.child('type').string({ nonEmpty: true }) ?? 'IPAddress';
      const value = address.child('value').string({ nonEmpty: true });
      if (value !== undefined && value.length > 253)
        return address.child('value').error('at most 253 characters');
      // The schema takes any IPAddress text; an implementation refuses one it cannot use in the status.
      if (type === 'IPAddress' && value !== undefined && isIP(value) === 0)
        address.child('value').warn(`${JSON.stringify(value)} is not an IP address: Ambit cannot use it`);
      if (type === 'Hostname' && value !== undefined && !ADDRESS_HOSTNAME.test(value))
        return address.child('value').error(`invalid hostname ${JSON.stringify(value)}`);
      return { type, value };
    }) ?? [];
  if (addresses.length > 16) field.error('at most 16 addresses');
  const seen = new Set<string>();
  for (const { type, value } of addresses) {
    if (value === undefined) continue;
    if (seen.has(`${type}/${value}`)) field.error(`${type} values must be unique: ${value} is given twice`);
    seen.add(`${type}/${value}`);
  }
  return addresses;
}

function allowedListeners(field: Field): AllowedListeners {
  const namespaces = field.object(['namespaces'])?.child('namespaces').object(['from', 'selector']);
  const from = namespaces?.child('from').oneOf(['All', 'Same', 'Selector', 'None'] as const) ?? 'None';
  const selector = namespaces ? labelSelector(namespaces.child('selector')) : undefined;
  if (from === 'Selector' && !selector)
    namespaces?.child('selector').error('from: Selector needs a selector');
  if (from !== 'None')
    field.warn('ListenerSets are not supported by Ambit: no listener is added to this Gateway');
  return { from, selector };
}

function frontendValidation(field: Field): FrontendValidation | undefined {
  const object = field
    .object(['validation'], { required: true })
    ?.child('validation')
    .object(['caCertificateRefs', 'mode']);
  if (!object) return undefined;
  const refsField = object.child('caCertificateRefs');
  const caCertificateRefs =
    refsField.list((item) => objectRef(item, { group: '', kind: 'ConfigMap' }), {
      required: true,
      nonEmpty: true,
    }) ?? [];
  if (caCertificateRefs.length > 16) refsField.error('at most 16 caCertificateRefs');
  const mode =
    object.child('mode').oneOf(['AllowValidOnly', 'AllowInsecureFallback'] as const) ?? 'AllowValidOnly';
  return { caCertificateRefs, mode };
}

function gatewayTls(field: Field): GatewayTLS | undefined {
  const object = field.object(['backend', 'frontend']);
  if (!object) return undefined;
  const backend = object.child('backend').object(['clientCertificateRef']);
  const frontend = object.child('frontend').object(['default', 'perPort']);
  const perPortField = frontend?.child('perPort');
  const frontendPerPort =
    perPortField?.list((item) => {
      const entry = item.object(['port', 'tls'], { required: true });
      const port = entry?.child('port').port({ required: true });
      const validation = entry ? frontendValidation(entry.child('tls')) : undefined;
      return port === undefined ? undefined : { port, validation };
    }) ?? [];
  if (frontendPerPort.length > 64) perPortField?.error('at most 64 perPort entries');
  if (new Set(frontendPerPort.map((entry) => entry.port)).size !== frontendPerPort.length)
    perPortField?.error('each port may have one TLS configuration');
  if (frontend) field.warn('client certificate validation (tls.frontend) is not supported by Ambit yet');
  return {
    backendClientCertificate: backend?.child('clientCertificateRef').present
      ? objectRef(backend.child('clientCertificateRef'), { group: '', kind: 'Secret' })
      : undefined,
    frontendDefault: frontend ? frontendValidation(frontend.child('default')) : undefined,
    frontendPerPort,
  };
}

// ---------------------------------------------------------------------------------------------------------
// HTTPRoute

export interface ParentRef {
  group: string;
  kind: string;
  namespace?: string | undefined;
  name: string;
  sectionName?: string | undefined;
  port?: number | undefined;
}

export interface HTTPPathMatch {
  type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  value: string;
}

export interface HTTPValueMatch {
  type: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

export interface HTTPRouteMatch {
  path: HTTPPathMatch;
  headers: HTTPValueMatch[];
  queryParams: HTTPValueMatch[];
  method?: HttpMethod | undefined;
}

export interface HeaderModifier {
  set: { name: string; value: string }[];
  add: { name: string; value: string }[];
  remove: string[];
}

export interface BackendRef {
  group: string;
  kind: string;
  name: string;
  namespace?: string | undefined;
  port?: number | undefined;
}

export interface HTTPPathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  value: string;
}

export type HTTPRouteFilter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifier }
  | {
      type: 'RequestMirror';
      requestMirror: {
        backendRef: BackendRef;
        percent?: number | undefined;
        fraction?: { numerator: number; denominator: number } | undefined;
      };
    }
  | {
      type: 'RequestRedirect';
      requestRedirect: {
        scheme?: 'http' | 'https' | undefined;
        hostname?: string | undefined;
        path?: HTTPPathModifier | undefined;
        port?: number | undefined;
        statusCode: 301 | 302 | 303 | 307 | 308;
      };
    }
  | { type: 'URLRewrite'; urlRewrite: { hostname?: string | undefined; path?: HTTPPathModifier | undefined } }
  | { type: 'ExtensionRef'; extensionRef: { group: string; kind: string; name: string } };

export interface HTTPBackendRef extends BackendRef {
  weight: number;
  filters: HTTPRouteFilter[];
}

export interface HTTPRouteRule {
  name?: string | undefined;
  matches: HTTPRouteMatch[];
  filters: HTTPRouteFilter[];
  backendRefs: HTTPBackendRef[];
  timeouts?: { request?: number | undefined; backendRequest?: number | undefined } | undefined;
  retry?: { codes: number[]; attempts?: number | undefined; backoff?: number | undefined } | undefined;
}

export interface HTTPRouteSpec {
  parentRefs: ParentRef[];
  hostnames: string[];
  rules: HTTPRouteRule[];
}

/** Gateway API durations (GEP-2257): up to four number+unit parts among h, m, s, ms. */
const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

function gatewayDuration(field: Field): number | undefined {
  if (!field.present) return undefined;
  const text = field.string({
    pattern: GATEWAY_DURATION,
    patternHint: 'use a Gateway API duration such as 10s, 1m30s or 500ms',
  });
  return text === undefined ? undefined : field.duration();
}

export function parentRef(field: Field): ParentRef | undefined {
  const object = field.object(['group', 'kind', 'namespace', 'name', 'sectionName', 'port'], {
    required: true,
  });
  if (!object) return undefined;
  const name = object.child('name').string({ required: true, nonEmpty: true });
  const result = {
    group: object.child('group').string() ?? GATEWAY_API_GROUP,
    kind: object.child('kind').string() ?? 'Gateway',
    namespace: namespaceName(object.child('namespace')),
    name: name ?? '',
    sectionName: object
      .child('sectionName')
      .string({ pattern: SECTION_NAME, patternHint: 'a listener name (DNS-1123 label)' }),
    port: object.child('port').port(),
  };
  if (result.kind === 'Service' && result.group !== '') {
    object.child('group').error('a parentRef to a Service needs group: "" (the core group)');
  } else if (
    result.kind !== 'Service' &&
    !(result.kind === 'Gateway' && result.group === GATEWAY_API_GROUP)
  ) {
    // The schema takes any kind (ServiceImport, ListenerSet, ...); an implementation reports the ones it
    // does not serve in the route's status. Ambit serves Gateways and Services: the others are left out.
    object
      .child('kind')
      .warn(
        `Ambit attaches routes to a Gateway (group ${GATEWAY_API_GROUP}) or a Service (group ""), not ${result.group}/${result.kind}: this parent is ignored`,
      );
    return undefined;
  }
  return name === undefined ? undefined : result;
}

function backendRef(object: Field): BackendRef | undefined {
  const name = object.child('name').string({ required: true, nonEmpty: true });
  const group = object.child('group').string() ?? '';
  const kind = object.child('kind').string() ?? 'Service';
  const port = object.child('port').port();
  if (group === '' && kind === 'Service' && port === undefined)
    object.child('port').error('backendRefs to a Service need a port');
  if (name === undefined) return undefined;
  return { group, kind, name, namespace: namespaceName(object.child('namespace')), port };
}

/** A rule's `backendRefs`: Service references with a weight (default 1; 0 receives nothing) and filters. */
export function weightedBackendRefs<Filter>(
  field: Field,
  parseFilters: (field: Field) => Filter[],
): (BackendRef & { weight: number; filters: Filter[] })[] {
  return (
    field.list((item) => {
      const ref = item.object(['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters'], {
        required: true,
      });
      if (!ref) return undefined;
      const base = backendRef(ref);
      const weight = ref.child('weight').integer({ min: 0, max: 1_000_000 }) ?? 1;
      const refFilters = parseFilters(ref.child('filters'));
      return base ? { ...base, weight, filters: refFilters } : undefined;
    }) ?? []
  );
}

function valueMatch(field: Field, kind: 'header' | 'query'): HTTPValueMatch | undefined {
  const object = field.object(['type', 'name', 'value'], { required: true });
  if (!object) return undefined;
  const type = object.child('type').oneOf(['Exact', 'RegularExpression'] as const) ?? 'Exact';
  const name = object.child('name').string({ required: true, nonEmpty: true });
  if (kind === 'header' && name !== undefined && !HEADER_NAME.test(name)) {
    object.child('name').error(`invalid header name ${JSON.stringify(name)}`);
  }
  const value = object.child('value').string({ required: true });
  if (type === 'RegularExpression' && value !== undefined && !regex(object.child('value'), value))
    return undefined;
  return name === undefined || value === undefined ? undefined : { type, name, value };
}

function uniqueNames(field: Field, items: readonly { name: string }[], what: string): void {
  const seen = new Set<string>();
  for (const { name } of items) {
    const key = name.toLowerCase();
    if (seen.has(key)) field.error(`${what} ${JSON.stringify(name)} is matched twice`);
    seen.add(key);
  }
}

function routeMatch(field: Field): HTTPRouteMatch | undefined {
  const object = field.object(['path', 'headers', 'queryParams', 'method'], { required: true });
  if (!object) return undefined;
  let path: HTTPPathMatch = { type: 'PathPrefix', value: '/' };
  const pathField = object.child('path').object(['type', 'value']);
  if (pathField) {
    const type =
      pathField.child('type').oneOf(['Exact', 'PathPrefix', 'RegularExpression'] as const) ?? 'PathPrefix';
    const value = pathField.child('value').string() ?? '/';
    if (type === 'RegularExpression') {
      if (regex(pathField.child('value'), value)) path = { type, value };
    } else if (!value.startsWith('/')) {
      pathField.child('value').error('paths must start with "/"');
    } else if (/\/\/|\/\.\.?(\/|$)|[#?]/.test(value)) {
      pathField.child('value').error('paths must not contain "//", "/./", "/../", "#" or "?"');
    } else {
      path = { type, value };
    }
  }
  const headersField = object.child('headers');
  const headers = headersField.list((item) => valueMatch(item, 'header')) ?? [];
  uniqueNames(headersField, headers, 'header');
  const queryField = object.child('queryParams');
  const queryParams = queryField.list((item) => valueMatch(item, 'query')) ?? [];
  uniqueNames(queryField, queryParams, 'query parameter');
  return { path, headers, queryParams, method: object.child('method').oneOf(HTTP_METHODS) };
}

function headerModifier(field: Field): HeaderModifier | undefined {
  const object = field.object(['set', 'add', 'remove'], { required: true });
  if (!object) return undefined;
  const pairs = (key: string) => {
    const list =
      object.child(key).list((item) => {
        const pair = item.object(['name', 'value'], { required: true });
        if (!pair) return undefined;
        const name = pair
          .child('name')
          .string({ required: true, pattern: HEADER_NAME, patternHint: 'use letters, digits, - and _' });
        const value = pair.child('value').string({ required: true });
        return name === undefined || value === undefined ? undefined : { name, value };
      }) ?? [];
    uniqueNames(object.child(key), list, 'header');
    return list;
  };
  const remove =
    object
      .child('remove')
      .list((item) =>
        item.string({ required: true, pattern: HEADER_NAME, patternHint: 'use letters, digits, - and _' }),
      ) ?? [];
  return { set: pairs('set'), add: pairs('add'), remove };
}

function pathModifier(field: Field): HTTPPathModifier | undefined {
  const object = field.object(['type', 'replaceFullPath', 'replacePrefixMatch']);
  if (!object) return undefined;
  const type = object
    .child('type')
    .oneOf(['ReplaceFullPath', 'ReplacePrefixMatch'] as const, { required: true });
  if (type === undefined) return undefined;
  const key = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const other = type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (object.child(other).present) object.child(other).error(`not allowed with type ${type} (use ${key})`);
  const value = object.child(key).string({ required: true });
  return value === undefined ? undefined : { type, value };
}

const FILTER_FIELDS: Record<HTTPRouteFilter['type'], string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  ExtensionRef: 'extensionRef',
};

const HTTP_FILTER_TYPES = Object.keys(FILTER_FIELDS) as HTTPRouteFilter['type'][];

function filter(field: Field, types: readonly HTTPRouteFilter['type'][]): HTTPRouteFilter | undefined {
  if (types === HTTP_FILTER_TYPES && field.child('type').value === 'CORS') return corsFilter(field);
  const object = field.object(['type', ...types.map((type) => FILTER_FIELDS[type])], { required: true });
  if (!object) return undefined;
  const type = object.child('type').oneOf(types, { required: true });
  if (type === undefined) return undefined;
  const expected = FILTER_FIELDS[type];
  for (const key of types.map((other) => FILTER_FIELDS[other])) {
    if (key !== expected && object.child(key).present)
      object.child(key).error(`not allowed with type ${type} (use ${expected})`);
  }
  const body = object.child(expected);
  if (!body.present) return body.error(`required for type ${type}`);
  switch (type) {
    case 'RequestHeaderModifier':
    case 'ResponseHeaderModifier': {
      const modifier = headerModifier(body);
      if (!modifier) return undefined;
      return type === 'RequestHeaderModifier'
        ? { type, requestHeaderModifier: modifier }
        : { type, responseHeaderModifier: modifier };
    }
    case 'RequestMirror': {
      const mirror = body.object(['backendRef', 'percent', 'fraction']);
      if (!mirror) return undefined;
      mirror.exclusive(['percent', 'fraction']);
      const refField = mirror
        .child('backendRef')
        .object(['group', 'kind', 'name', 'namespace', 'port'], { required: true });
      const ref = refField ? backendRef(refField) : undefined;
      const fractionField = mirror.child('fraction').object(['numerator', 'denominator']);
      let fraction: { numerator: number; denominator: number } | undefined;
      if (fractionField) {
        const numerator = fractionField.child('numerator').integer({ required: true, min: 0 });
        const denominator = fractionField.child('denominator').integer({ min: 1 }) ?? 100;
        if (numerator !== undefined && numerator > denominator)
          fractionField.error('numerator must not exceed denominator');
        else if (numerator !== undefined) fraction = { numerator, denominator };
      }
      return ref
        ? {
            type,
            requestMirror: {
              backendRef: ref,
              percent: mirror.child('percent').integer({ min: 0, max: 100 }),
              fraction,
            },
          }
        : undefined;
    }
    case 'RequestRedirect': {
      const redirect = body.object(['scheme', 'hostname', 'path', 'port', 'statusCode']);
      if (!redirect) return undefined;
      return {
        type,
        requestRedirect: {
          scheme: redirect.child('scheme').oneOf(['http', 'https'] as const),
          hostname: redirect.child('hostname').present ? hostname(redirect.child('hostname')) : undefined,
          path: pathModifier(redirect.child('path')),
          port: redirect.child('port').port(),
          statusCode: redirectStatus(redirect.child('statusCode')),
        },
      };
    }
    case 'URLRewrite': {
      const rewriteField = body.object(['hostname', 'path']);
      if (!rewriteField) return undefined;
      return {
        type,
        urlRewrite: {
          hostname: rewriteField.child('hostname').present
            ? hostname(rewriteField.child('hostname'))
            : undefined,
          path: pathModifier(rewriteField.child('path')),
        },
      };
    }
    case 'ExtensionRef': {
      body.warn('ExtensionRef filters are not supported by Ambit and will be ignored');
      const ref = body.object(['group', 'kind', 'name']);
      const name = ref?.child('name').string({ required: true });
      return ref && name !== undefined
        ? {
            type,
            extensionRef: {
              group: ref.child('group').string() ?? '',
              kind: ref.child('kind').string({ required: true }) ?? '',
              name,
            },
          }
        : undefined;
    }
  }
}

const CORS_METHODS = [...HTTP_METHODS, '*'];
const CORS_HEADER = /^([-_A-Za-z0-9]+|\*)$/;

function wildcardAlone(field: Field, values: readonly string[]): void {
  if (values.includes('*') && values.length > 1) field.error('"*" cannot be listed with other values');
}

/** HTTPRoute's CORS filter, validated as the Gateway API's schema does; not applied by Ambit yet. */
function corsFilter(field: Field): undefined {
  const body = field.object(['type', 'cors'])?.child('cors');
  if (!body?.present) return body?.error('required for type CORS');
  const cors = body.object([
    'allowOrigins',
    'allowCredentials',
    'allowMethods',
    'allowHeaders',
    'exposeHeaders',
    'maxAge',
  ]);
  if (!cors) return undefined;
  const bounded = (key: string, max: number, each: (item: Field) => string | undefined) => {
    const values = cors.child(key).list(each) ?? [];
    if (values.length > max) cors.child(key).error(`at most ${max} entries`);
    return values;
  };
  const header = (item: Field) =>
    item.string({ required: true, pattern: CORS_HEADER, patternHint: 'use letters, digits, - and _, or *' });
  wildcardAlone(
    cors.child('allowOrigins'),
    bounded('allowOrigins', 64, (item) =>
      item.string({
        required: true,
        pattern: CORS_ORIGIN,
        patternHint: 'an origin is *, or scheme://host[:port] where host may start with *.',
      }),
    ),
  );
  wildcardAlone(
    cors.child('allowMethods'),
    bounded('allowMethods', 9, (item) => item.oneOf(CORS_METHODS, { required: true })),
  );
  wildcardAlone(cors.child('allowHeaders'), bounded('allowHeaders', 64, header));
  wildcardAlone(cors.child('exposeHeaders'), bounded('exposeHeaders', 64, header));
  cors.child('allowCredentials').boolean();
  cors.child('maxAge').integer({ min: 1 });
  field.warn('CORS filters are not applied by Ambit yet: this filter is ignored');
  return undefined;
}

/** The Gateway API's CORSOrigin: `*`, or `scheme://host[:port]` with an optional leading `*.` on the host. */
const CORS_ORIGIN = /^(\*|[a-z][a-z0-9+.-]*:\/\/(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?)$/;

const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;

function redirectStatus(field: Field): (typeof REDIRECT_STATUSES)[number] {
  const code = field.integer();
  if (code === undefined) return 302;
  const known = REDIRECT_STATUSES.find((status) => status === code);
  if (known === undefined)
    field.error(`invalid status code ${code}: use one of ${REDIRECT_STATUSES.join(', ')}`);
  return known ?? 302;
}

/**
 * A rule's or backendRef's filters, checked as the Gateway API's CEL rules do. `paths` are the rule's path
 * matches (for `ReplacePrefixMatch`); `types` the filter types the route kind allows.
 */
function filters(
  field: Field,
  paths: readonly HTTPPathMatch[],
  types: readonly HTTPRouteFilter['type'][] = HTTP_FILTER_TYPES,
): HTTPRouteFilter[] {
  const list = field.list((item) => filter(item, types)) ?? [];
  for (const type of [
    'RequestHeaderModifier',
    'ResponseHeaderModifier',
    'RequestRedirect',
    'URLRewrite',
  ] as const) {
    if (list.filter((item) => item.type === type).length > 1) field.error(`${type} may appear only once`);
  }
  if (
    list.some((item) => item.type === 'RequestRedirect') &&
    list.some((item) => item.type === 'URLRewrite')
  ) {
    field.error('RequestRedirect and URLRewrite cannot be used together');
  }
  const usesPrefixReplace = list.some(
    (item) =>
      (item.type === 'RequestRedirect' && item.requestRedirect.path?.type === 'ReplacePrefixMatch') ||
      (item.type === 'URLRewrite' && item.urlRewrite.path?.type === 'ReplacePrefixMatch'),
  );
  if (usesPrefixReplace && paths.some((path) => path.type !== 'PathPrefix')) {
    field.error('ReplacePrefixMatch needs every match of the rule to use a PathPrefix path');
  }
  return list;
}

export function ruleName(rule: Field): string | undefined {
  return rule.child('name').string({ pattern: SECTION_NAME, patternHint: 'a DNS-1123 label' });
}

function warnSessionPersistence(rule: Field): void {
  const field = rule.child('sessionPersistence');
  if (field.present) field.warn('sessionPersistence is not supported by Ambit and will be ignored');
}

function rule(field: Field): HTTPRouteRule | undefined {
  const object = field.object(
    ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry', 'sessionPersistence'],
    { required: true },
  );
  if (!object) return undefined;
  const matchesField = object.child('matches');
  const matches = matchesField.present
    ? (matchesField.list(routeMatch) ?? [])
    : [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] } satisfies HTTPRouteMatch];
  if (matches.length > 64) matchesField.error('at most 64 matches');
  const paths = matches.map((match) => match.path);
  const ruleFilters = filters(object.child('filters'), paths);
  const backendRefs = weightedBackendRefs(object.child('backendRefs'), (item) => filters(item, paths));
  if (ruleFilters.some((item) => item.type === 'RequestRedirect') && backendRefs.length > 0) {
    object.child('backendRefs').error('a rule with a RequestRedirect filter takes no backendRefs');
  }
  let timeouts: HTTPRouteRule['timeouts'];
  const timeoutsField = object.child('timeouts').object(['request', 'backendRequest']);
  if (timeoutsField) {
    const request = gatewayDuration(timeoutsField.child('request'));
    const backendRequest = gatewayDuration(timeoutsField.child('backendRequest'));
    if (request !== undefined && backendRequest !== undefined && request !== 0 && backendRequest > request) {
      timeoutsField.child('backendRequest').error('backendRequest must not be longer than request');
    }
    timeouts = { request, backendRequest };
  }
  let retry: HTTPRouteRule['retry'];
  const retryField = object.child('retry').object(['codes', 'attempts', 'backoff']);
  if (retryField) {
    retry = {
      codes:
        retryField.child('codes').list((item) => item.integer({ required: true, min: 400, max: 599 })) ?? [],
      attempts: retryField.child('attempts').integer({ min: 0 }),
      backoff: gatewayDuration(retryField.child('backoff')),
    };
  }
  warnSessionPersistence(object);
  return {
    name: ruleName(object),
    matches,
    filters: ruleFilters,
    backendRefs,
    timeouts,
    retry,
  };
}

/** The spec shared by HTTPRoute and GRPCRoute: parents, hostnames and up to 16 rules of the kind's own. */
function routeSpec<Rule>(
  doc: Field,
  parseRule: (field: Field) => Rule | undefined,
): { parentRefs: ParentRef[]; hostnames: string[]; rules: Rule[] } | undefined {
  const spec = doc.child('spec').object(['parentRefs', 'hostnames', 'rules'], { required: true });
  if (!spec) return undefined;
  const parentRefs = spec.child('parentRefs').list(parentRef) ?? [];
  if (parentRefs.length > 32) spec.child('parentRefs').error('at most 32 parentRefs');
  const hostnames = spec.child('hostnames').list((item) => hostname(item)) ?? [];
  const rulesField = spec.child('rules');
  const rules = rulesField.present ? (rulesField.list(parseRule) ?? []) : [];
  if (rules.length > 16) rulesField.error('at most 16 rules');
  return { parentRefs, hostnames, rules };
}

// ---------------------------------------------------------------------------------------------------------
// GRPCRoute

/**
 * A gRPC method match: `Exact` on the service (`package.Service`) and/or the method, or `RegularExpression`
 * (RE2) on either; at least one is set. Matched against the request path `/<service>/<method>`.
 */
export interface GRPCMethodMatch {
  type: 'Exact' | 'RegularExpression';
  service?: string | undefined;
  method?: string | undefined;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch | undefined;
  headers: HTTPValueMatch[];
}

/** The filters GRPCRoute allows: a subset of HTTPRoute's, with the same shapes. */
export type GRPCRouteFilter = Extract<
  HTTPRouteFilter,
  { type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestMirror' | 'ExtensionRef' }
>;

const GRPC_FILTER_TYPES: readonly GRPCRouteFilter['type'][] = [
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestMirror',
  'ExtensionRef',
];

export interface GRPCBackendRef extends BackendRef {
  weight: number;
  filters: GRPCRouteFilter[];
}

export interface GRPCRouteRule {
  name?: string | undefined;
  matches: GRPCRouteMatch[];
  filters: GRPCRouteFilter[];
  backendRefs: GRPCBackendRef[];
}

export interface GRPCRouteSpec {
  parentRefs: ParentRef[];
  hostnames: string[];
  rules: GRPCRouteRule[];
}

/** The Gateway API's patterns for exact matches: a dotted protobuf service name, a protobuf method name. */
const GRPC_SERVICE = /^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

function grpcMethodMatch(field: Field): GRPCMethodMatch | undefined {
  const object = field.object(['type', 'service', 'method']);
  if (!object) return undefined;
  const type = object.child('type').oneOf(['Exact', 'RegularExpression'] as const) ?? 'Exact';
  const part = (key: 'service' | 'method', pattern: RegExp, hint: string) => {
    const value = object.child(key).string({ nonEmpty: true });
    if (value === undefined) return undefined;
    if (type === 'RegularExpression') return regex(object.child(key), value) ? value : undefined;
    return pattern.test(value) ? value : object.child(key).error(hint);
  };
  const service = part('service', GRPC_SERVICE, 'use a protobuf service name such as pkg.v1.Service');
  const method = part('method', GRPC_METHOD, 'use a protobuf method name (letters, digits and _)');
  if (!object.child('service').present && !object.child('method').present) {
    return object.error('set service, method or both');
  }
  return { type, service, method };
}

function grpcRouteMatch(field: Field): GRPCRouteMatch | undefined {
  const object = field.object(['method', 'headers'], { required: true });
  if (!object) return undefined;
  const headersField = object.child('headers');
  const headers = headersField.list((item) => valueMatch(item, 'header')) ?? [];
  uniqueNames(headersField, headers, 'header');
  return { method: grpcMethodMatch(object.child('method')), headers };
}

function grpcFilters(field: Field): GRPCRouteFilter[] {
  return filters(field, [], GRPC_FILTER_TYPES) as GRPCRouteFilter[];
}

function grpcRule(field: Field): GRPCRouteRule | undefined {
  const object = field.object(['name', 'matches', 'filters', 'backendRefs', 'sessionPersistence'], {
    required: true,
  });
  if (!object) return undefined;
  const matchesField = object.child('matches');
  const matches = matchesField.list(grpcRouteMatch) ?? [];
  if (matches.length > 64) matchesField.error('at most 64 matches');
  warnSessionPersistence(object);
  return {
    name: ruleName(object),
    matches,
    filters: grpcFilters(object.child('filters')),
    backendRefs: weightedBackendRefs(object.child('backendRefs'), grpcFilters),
  };
}

export const GATEWAY: KindDefinition<GatewaySpec> = {
  kind: 'Gateway',
  apiVersions: GATEWAY_API_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => parseGateway(doc),
};

export const HTTP_ROUTE: KindDefinition<HTTPRouteSpec> = {
  kind: 'HTTPRoute',
  apiVersions: GATEWAY_API_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => routeSpec(doc, rule),
};

export const GRPC_ROUTE: KindDefinition<GRPCRouteSpec> = {
  kind: 'GRPCRoute',
  apiVersions: GATEWAY_API_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => routeSpec(doc, grpcRule),
};

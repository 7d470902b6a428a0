/**
 * Istio's ServiceEntry (`networking.istio.io`): services the registry does not hold by itself (external
 * APIs, VMs), with hosts, addresses, ports, a location, a resolution and endpoints or a workload selector.
 * Checked as Istio's validation does (`ValidateServiceEntry` and the CRD schema).
 */
import { isIP } from 'node:net';
import type { Field } from '../field.ts';
import { DNS_LABEL, type KindDefinition } from '../resource.ts';
import {
  exportTo,
  ISTIO_HTTP_PROTOCOLS,
  ISTIO_TLS_PROTOCOLS,
  isDnsHostname,
  isIpOrCidr,
  istioProtocol,
} from './common.ts';
import { ISTIO_NETWORKING_VERSIONS } from './istio-networking.ts';

export type ServiceEntryResolution = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';
export type ServiceEntryLocation = 'MESH_EXTERNAL' | 'MESH_INTERNAL';

export interface ServiceEntryPort {
  number: number;
  /** Upper case (Istio parses protocols case-insensitively); TCP when unset. */
  protocol: string;
  name: string;
  targetPort?: number | undefined;
}

export interface ServiceEntryEndpoint {
  /** An IP address, or (DNS resolution) a hostname resolved when traffic is sent. */
  address: string;
  /** Port name -> the endpoint's port for it. */
  ports: Record<string, number>;
  labels: Record<string, string>;
  weight?: number | undefined;
  serviceAccount?: string | undefined;
}

export interface ServiceEntrySpec {
  hosts: string[];
  /** IPs or CIDRs; when empty the ztunnel's DNS proxy allocates a VIP per host. */
  addresses: string[];
  ports: ServiceEntryPort[];
  location: ServiceEntryLocation;
  resolution: ServiceEntryResolution;
  endpoints: ServiceEntryEndpoint[];
  workloadSelector?: Record<string, string> | undefined;
  exportTo: string[];
  subjectAltNames: string[];
}

/** A fully qualified name, or one with a leading `*.`: what DNS resolution can look up. */
function isFqdn(host: string): boolean {
  return isDnsHostname(host) && host.replace(/^\*\./, '').includes('.');
}

function servicePort(item: Field): ServiceEntryPort | undefined {
  const port = item.object(['number', 'protocol', 'name', 'targetPort'], { required: true });
  if (!port) return undefined;
  const number = port.child('number').port({ required: true });
  const protocol = port.child('protocol').present ? istioProtocol(port.child('protocol')) : 'TCP';
  const name = port.child('name').string({
    required: true,
    pattern: DNS_LABEL,
    patternHint: 'port names are lowercase alphanumerics and - (DNS-1123 label)',
  });
  const targetPort = port.child('targetPort').port();
  return number === undefined || name === undefined || protocol === undefined
    ? undefined
    : { number, protocol, name, targetPort };
}

/** How an endpoint is read: the entry's port names (a WorkloadEntry's own: any valid name), names allowed. */
export interface EndpointRules {
  portNames?: ReadonlySet<string> | undefined;
  byName: boolean;
}

const PORT_NAME = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/**
 * A workload endpoint (a ServiceEntry's `endpoints[]` item, or a WorkloadEntry's spec): an IP, an FQDN where
 * resolution is by name, or a Unix socket (absolute or abstract, not a directory, without ports); it needs an
 * address unless it names its network (reached through that network's gateway).
 */
export function endpoint(item: Field, rules: EndpointRules): ServiceEntryEndpoint | undefined {
  const object = item.object(
    ['address', 'ports', 'labels', 'network', 'locality', 'weight', 'serviceAccount'],
    {
      required: true,
    },
  );
  if (!object) return undefined;
  const network = object.child('network').string();
  const address = object.child('address').string({ nonEmpty: true });
  if (!object.child('address').present && network === undefined)
    object.child('address').error('required field is missing (or set network)');
  const { byName } = rules;
  const socket = address?.startsWith('unix://') ? address.slice('unix://'.length) : undefined;
  if (socket !== undefined && !socket.startsWith('/') && !socket.startsWith('@'))
    object.child('address').error('a Unix socket must be an absolute path or an abstract socket (@name)');
  else if (socket?.endsWith('/')) object.child('address').error('a Unix socket may not be a directory');
  else if (
    address !== undefined &&
    socket === undefined &&
    isIP(address) === 0 &&
    !(byName && isFqdn(address))
  ) {
    object
      .child('address')
      .error(
        `endpoint address ${JSON.stringify(address)} is not a valid IP address${byName ? ' or FQDN' : ''}`,
      );
  }
  if (socket !== undefined && object.child('ports').keys().length > 0)
    object.child('ports').error('a Unix socket endpoint takes no ports');
  const ports =
    object.child('ports').map((port, name) => {
      if (rules.portNames !== undefined && !rules.portNames.has(name))
        return port.error(`port ${name} is not defined by the service entry`);
      if (rules.portNames === undefined && (name.length >= 63 || !PORT_NAME.test(name)))
        return port.error(`invalid port name ${JSON.stringify(name)}: alphanumerics and -, under 63`);
      return port.port({ required: true });
    }) ?? {};
  object.child('locality').string();
  const serviceAccount = object.child('serviceAccount').string({ nonEmpty: true });
  const weight = object.child('weight').integer({ min: 0, max: 4_294_967_295 });
  if (address === undefined) return undefined;
  return { address, ports, labels: object.child('labels').labels() ?? {}, weight, serviceAccount };
}

function parseServiceEntry(doc: Field): ServiceEntrySpec | undefined {
  const spec = doc
    .child('spec')
    .object(
      [
        'hosts',
        'addresses',
        'ports',
        'location',
        'resolution',
        'endpoints',
        'workloadSelector',
        'exportTo',
        'subjectAltNames',
      ],
      { required: true },
    );
  if (!spec) return undefined;
  const resolution =
    spec.child('resolution').oneOf(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'] as const) ??
    'NONE';
  const location =
    spec.child('location').oneOf(['MESH_EXTERNAL', 'MESH_INTERNAL'] as const) ?? 'MESH_EXTERNAL';
  const hostsField = spec.child('hosts');
  const hosts =
    hostsField.list(
      (item) => {
        const host = item.string({ required: true, nonEmpty: true });
        if (host === undefined) return undefined;
        if (host === '*') return item.error('the wildcard host "*" is not allowed: use *.suffix');
        // Istio takes a partial wildcard (`*x`) and warns that it matches like `*.x` would not.
        if (/^\*[^.]/.test(host) && isDnsHostname(host.slice(1))) {
          item.warn('a partial wildcard matches any name ending in the rest, across labels');
          return host;
        }
        if (!isDnsHostname(host)) return item.error(`invalid hostname ${JSON.stringify(host)}`);
        return host;
      },
      { required: true, nonEmpty: true },
    ) ?? [];
  const addressesField = spec.child('addresses');
  const addresses =
    addressesField.list((item) => {
      const value = item.string({ required: true, nonEmpty: true });
      if (value !== undefined && !isIpOrCidr(value))
        return item.error(`invalid IP address or CIDR block ${JSON.stringify(value)}`);
      return value;
    }) ?? [];
  if (
    addresses.some((address) => address.includes('/')) &&
    resolution !== 'NONE' &&
    resolution !== 'STATIC'
  ) {
    addressesField.error('CIDR addresses are allowed only with resolution NONE or STATIC');
  }
  const portsField = spec.child('ports');
  const ports = portsField.list(servicePort) ?? [];
  const names = new Set<string>();
  const numbers = new Set<number>();
  for (const port of ports) {
    if (names.has(port.name)) portsField.error(`port name ${JSON.stringify(port.name)} is defined twice`);
    if (numbers.has(port.number)) portsField.error(`port ${port.number} is defined twice`);
    names.add(port.name);
    numbers.add(port.number);
  }
  const selectorField = spec.child('workloadSelector').object(['labels']);
  const workloadSelector = selectorField ? (selectorField.child('labels').labels() ?? {}) : undefined;
  for (const [key, value] of Object.entries(workloadSelector ?? {})) {
    if (key.includes('*') || value.includes('*'))
      selectorField?.child('labels').child(key).error('wildcards are not supported in selectors');
  }
  const endpointsField = spec.child('endpoints');
  if (selectorField && endpointsField.present) spec.error('set only one of workloadSelector and endpoints');
  const endpoints =
    endpointsField.list((item) =>
      endpoint(item, { portNames: names, byName: resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN' }),
    ) ?? [];
  switch (resolution) {
    case 'NONE':
      if (endpoints.length > 0) endpointsField.error('resolution NONE takes no endpoints');
      if (selectorField)
        spec.child('workloadSelector').warn('workloadSelector has no effect with resolution NONE');
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0 && hosts.some((host) => !isFqdn(host))) {
        hostsField.error(
          `with resolution ${resolution} and no endpoints, hosts must be fully qualified names`,
        );
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
        endpointsField.error('resolution DNS_ROUND_ROBIN takes at most one endpoint');
      }
      break;
    case 'DYNAMIC_DNS':
      if (hosts.some((host) => !host.startsWith('*.')))
        hostsField.error('resolution DYNAMIC_DNS needs wildcard hosts');
      if (addresses.length > 0) addressesField.error('resolution DYNAMIC_DNS takes no addresses');
      if (endpoints.length > 0) endpointsField.error('resolution DYNAMIC_DNS takes no endpoints');
      break;
    case 'STATIC':
      break;
  }
  if (
    resolution !== 'NONE' &&
    hosts.length > 1 &&
    ports.some(
      (port) => !ISTIO_HTTP_PROTOCOLS.includes(port.protocol) && !ISTIO_TLS_PROTOCOLS.includes(port.protocol),
    )
  ) {
    hostsField.error('several hosts need HTTP or TLS ports (a TCP port cannot tell the hosts apart)');
  }
  return {
    hosts,
    addresses,
    ports,
    location,
    resolution,
    endpoints,
    workloadSelector,
    exportTo: exportTo(spec.child('exportTo')),
    subjectAltNames: spec.child('subjectAltNames').strings() ?? [],
  };
}

export const SERVICE_ENTRY: KindDefinition<ServiceEntrySpec> = {
  kind: 'ServiceEntry',
  apiVersions: ISTIO_NETWORKING_VERSIONS,
  namespaced: true,
  parse: parseServiceEntry,
};

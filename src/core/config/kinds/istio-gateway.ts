/**
 * Istio's classic Gateway (`networking.istio.io`): servers (port, hosts, TLS) on the gateway workloads its
 * selector picks, bound to routes by `VirtualService.gateways`. It shares its kind name with the Gateway API's
 * Gateway, so it is registered as `Gateway.networking.istio.io` (kubectl's `gateways.networking.istio.io`).
 * Checked as Istio's validation does; served by the gateway deployments the selector picks
 * (`control/model/ingress/classic.ts`).
 */
import { isIP } from 'node:net';
import type { Field } from '../field.ts';
import { DNS_LABEL, type KindDefinition, qualifiedKind } from '../resource.ts';
import { ISTIO_HTTP_PROTOCOLS, ISTIO_TLS_PROTOCOLS, isDnsHostname, istioProtocol } from './common.ts';
import { ISTIO_NETWORKING_VERSIONS } from './istio-networking.ts';

export const ISTIO_GATEWAY_KIND = qualifiedKind('Gateway', 'networking.istio.io');

export type ServerTLSMode =
  | 'PASSTHROUGH'
  | 'SIMPLE'
  | 'MUTUAL'
  | 'AUTO_PASSTHROUGH'
  | 'ISTIO_MUTUAL'
  | 'OPTIONAL_MUTUAL';

export interface ServerTLSSettings {
  httpsRedirect: boolean;
  mode: ServerTLSMode;
  credentialName?: string | undefined;
  credentialNames: string[];
  serverCertificate?: string | undefined;
  privateKey?: string | undefined;
  caCertificates?: string | undefined;
  subjectAltNames: string[];
  minProtocolVersion?: string | undefined;
  maxProtocolVersion?: string | undefined;
}

export interface GatewayServer {
  port: { number: number; protocol: string; name: string };
  /** `namespace/host` as written (`*` or `.` for the namespace; a bare host means `*`/host). */
  hosts: string[];
  bind?: string | undefined;
  name?: string | undefined;
  tls?: ServerTLSSettings | undefined;
}

export interface IstioGatewaySpec {
  selector: Record<string, string>;
  servers: GatewayServer[];
}

const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const;
const TLS_FIELDS = [
  'httpsRedirect',
  'mode',
  'serverCertificate',
  'privateKey',
  'caCertificates',
  'caCrl',
  'credentialName',
  'credentialNames',
  'tlsCertificates',
  'subjectAltNames',
  'verifyCertificateSpki',
  'verifyCertificateHash',
  'minProtocolVersion',
  'maxProtocolVersion',
  'cipherSuites',
];

/** A server host: `[namespace/]host`, the namespace `*`, `.` or a name, the host `*`, `*.suffix` or a name. */
function serverHost(item: Field): string | undefined {
  const value = item.string({ required: true, nonEmpty: true });
  if (value === undefined) return undefined;
  const parts = value.split('/');
  if (parts.length > 2) return item.error(`invalid host ${JSON.stringify(value)}: use namespace/host`);
  const [namespace, host] = parts.length === 2 ? parts : ['*', parts[0]!];
  if (namespace !== '*' && namespace !== '.' && !DNS_LABEL.test(namespace!)) {
    return item.error(`invalid namespace ${JSON.stringify(namespace)} in host: use *, . or a namespace name`);
  }
  if (host === '*' || (host !== undefined && isDnsHostname(host))) return value;
  return item.error(
    `invalid hostname ${JSON.stringify(host)}: use *, *.suffix or DNS labels of letters, digits and -`,
  );
}

function serverTls(field: Field): ServerTLSSettings | undefined {
  const tls = field.object(TLS_FIELDS);
  if (!tls) return undefined;
  const mode =
    tls
      .child('mode')
      .oneOf([
        'PASSTHROUGH',
        'SIMPLE',
        'MUTUAL',
        'AUTO_PASSTHROUGH',
        'ISTIO_MUTUAL',
        'OPTIONAL_MUTUAL',
      ] as const) ?? 'PASSTHROUGH';
  const text = (key: string) => tls.child(key).string({ nonEmpty: true });
  const settings: ServerTLSSettings = {
    httpsRedirect: tls.child('httpsRedirect').boolean() ?? false,
    mode,
    credentialName: text('credentialName'),
    credentialNames: tls.child('credentialNames').strings() ?? [],
    serverCertificate: text('serverCertificate'),
    privateKey: text('privateKey'),
    caCertificates: text('caCertificates'),
    subjectAltNames: tls.child('subjectAltNames').strings() ?? [],
    minProtocolVersion: tls.child('minProtocolVersion').oneOf(TLS_VERSIONS),
    maxProtocolVersion: tls.child('maxProtocolVersion').oneOf(TLS_VERSIONS),
  };
  const caCrl = text('caCrl');
  tls.child('cipherSuites').strings();
  tls.child('verifyCertificateSpki').strings();
  tls.child('verifyCertificateHash').strings();
  const certificates =
    tls.child('tlsCertificates').list((item) => {
      const pair = item.object(['serverCertificate', 'privateKey', 'caCertificates'], { required: true });
      return pair
        ? {
            serverCertificate: pair.child('serverCertificate').string({ nonEmpty: true }),
            privateKey: pair.child('privateKey').string({ nonEmpty: true }),
          }
        : undefined;
    }) ?? [];
  const { credentialName, credentialNames, serverCertificate, privateKey, caCertificates } = settings;
  if (mode === 'ISTIO_MUTUAL') {
    for (const key of [
      'serverCertificate',
      'privateKey',
      'caCertificates',
      'credentialName',
      'credentialNames',
      'tlsCertificates',
    ]) {
      if (tls.child(key).present)
        tls.child(key).error('ISTIO_MUTUAL uses the mesh certificate: remove this field');
    }
    return settings;
  }
  const sources = [
    serverCertificate !== undefined && privateKey !== undefined,
    credentialName !== undefined,
    credentialNames.length > 0,
    certificates.length > 0,
  ].filter(Boolean).length;
  if (sources > 1) {
    tls.error(
      'set only one of credentialName, credentialNames, serverCertificate/privateKey and tlsCertificates',
    );
  }
  const terminates = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  if (terminates && credentialName === undefined && credentialNames.length === 0) {
    const what = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
    if (mode !== 'SIMPLE' && caCertificates === undefined)
      tls.child('caCertificates').error(`${what} requires a client CA bundle`);
    const pairs = certificates.length > 0 ? certificates : [{ serverCertificate, privateKey }];
    for (const pair of pairs) {
      if (pair.serverCertificate === undefined)
        tls.child('serverCertificate').error(`${what} requires a server certificate (or a credentialName)`);
      if (pair.privateKey === undefined)
        tls.child('privateKey').error(`${what} requires a private key (or a credentialName)`);
    }
  }
  if (caCrl !== undefined && credentialName !== undefined)
    tls.child('caCrl').error('a CRL cannot be given with credentialName: put it in the credential');
  if (caCrl !== undefined && mode === 'SIMPLE') tls.child('caCrl').error('a CRL is not used with SIMPLE TLS');
  return settings;
}

function server(field: Field): GatewayServer | undefined {
  const object = field.object(['port', 'hosts', 'bind', 'defaultEndpoint', 'tls', 'name'], {
    required: true,
  });
  if (!object) return undefined;
  const hosts = object.child('hosts').list(serverHost, { required: true, nonEmpty: true }) ?? [];
  const portField = object
    .child('port')
    .object(['number', 'protocol', 'name', 'targetPort'], { required: true });
  const number = portField?.child('number').port({ required: true });
  const protocol = portField ? istioProtocol(portField.child('protocol'), { required: true }) : undefined;
  const name = portField?.child('name').string({ required: true, nonEmpty: true });
  if (portField?.child('targetPort').present)
    portField.child('targetPort').error('targetPort has no effect on Gateways');
  const bind = object.child('bind').string({ nonEmpty: true });
  if (bind !== undefined && !bind.startsWith('unix://') && isIP(bind) === 0)
    object.child('bind').error(`invalid bind address ${JSON.stringify(bind)}: use an IP address`);
  object.child('defaultEndpoint').string();
  const tls = serverTls(object.child('tls'));
  if (protocol !== undefined && ISTIO_TLS_PROTOCOLS.includes(protocol) && !tls) {
    object.child('tls').error(`${protocol} servers need tls settings`);
  } else if (protocol !== undefined && !ISTIO_TLS_PROTOCOLS.includes(protocol) && tls) {
    const redirectOnly =
      ISTIO_HTTP_PROTOCOLS.includes(protocol) &&
      tls.mode === 'PASSTHROUGH' &&
      tls.serverCertificate === undefined &&
      tls.privateKey === undefined &&
      tls.caCertificates === undefined;
    if (!redirectOnly)
      object.child('tls').error(`${protocol} servers take no tls settings besides httpsRedirect`);
  }
  if (tls?.httpsRedirect && protocol !== undefined && !ISTIO_HTTP_PROTOCOLS.includes(protocol))
    object.child('tls.httpsRedirect').warn('httpsRedirect is only used by HTTP servers');
  if (number === undefined || protocol === undefined || name === undefined) return undefined;
  return { port: { number, protocol, name }, hosts, bind, name: object.child('name').string(), tls };
}

function parseIstioGateway(doc: Field): IstioGatewaySpec | undefined {
  const spec = doc.child('spec').object(['servers', 'selector'], { required: true });
  if (!spec) return undefined;
  const serversField = spec.child('servers');
  const servers = serversField.list(server, { required: true, nonEmpty: true }) ?? [];
  const names = servers.map((item) => item.port.name);
  for (const [index, portName] of names.entries()) {
    if (names.indexOf(portName) !== index)
      serversField.error(`port names must be unique: ${portName} is used twice`);
  }
  return { selector: spec.child('selector').labels() ?? {}, servers };
}

export const ISTIO_GATEWAY: KindDefinition<IstioGatewaySpec> = {
  kind: ISTIO_GATEWAY_KIND,
  apiVersions: ISTIO_NETWORKING_VERSIONS,
  namespaced: true,
  parse: parseIstioGateway,
};

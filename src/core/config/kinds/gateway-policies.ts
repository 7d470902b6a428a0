/**
 * Gateway API kinds around Gateways and routes: GatewayClass, ListenerSet and BackendTLSPolicy.
 * Validated as the Gateway API's schema and CEL rules do; Ambit does not act on them yet, and says so.
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { DNS_SUBDOMAIN } from '../resource.ts';
import { hostname } from './common.ts';
import {
  GATEWAY_API_GROUP,
  GATEWAY_API_VERSIONS,
  type GatewayListener,
  listener,
  type ObjectRef,
  objectRef,
  SECTION_NAME,
} from './gateway.ts';

function notActedOn(doc: Field): void {
  doc.child('kind').warn(`${String(doc.child('kind').value)} is validated but not acted on by Ambit yet`);
}

/** A Kubernetes kind name (`Service`, `HTTPRoute`): CamelCase letters and digits, at most 63. */
const KIND = /^[a-zA-Z]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/;

function group(field: Field, fallback: string): string {
  const value = field.string() ?? fallback;
  if (value !== '' && !DNS_SUBDOMAIN.test(value))
    field.error('a group is "" (the core group) or a DNS subdomain');
  return value;
}

function kind(field: Field, presence: { required?: boolean } = {}): string | undefined {
  return field.string({
    ...presence,
    pattern: KIND,
    patternHint: 'a kind is letters, digits and - (e.g. Service)',
  });
}

// GatewayClass

export interface GatewayClassSpec {
  controllerName: string;
  description?: string | undefined;
}

/** A controller name: a domain-prefixed path such as `istio.io/gateway-controller`. */
const CONTROLLER_NAME =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;

function parseGatewayClass(doc: Field): GatewayClassSpec | undefined {
  notActedOn(doc);
  const spec = doc
    .child('spec')
    .object(['controllerName', 'parametersRef', 'description'], { required: true });
  if (!spec) return undefined;
  const controllerName = spec.child('controllerName').string({
    required: true,
    pattern: CONTROLLER_NAME,
    patternHint: 'use a domain-prefixed path such as example.com/gateway-controller',
  });
  const description = spec.child('description').string();
  if (description !== undefined && description.length > 64)
    spec.child('description').error('at most 64 characters');
  const parameters = spec.child('parametersRef').object(['group', 'kind', 'name', 'namespace']);
  if (parameters) {
    group(parameters.child('group'), '');
    kind(parameters.child('kind'), { required: true });
    parameters.child('name').string({ required: true, nonEmpty: true });
    parameters.child('namespace').string({ pattern: DNS_SUBDOMAIN });
  }
  return controllerName === undefined ? undefined : { controllerName, description };
}

// ListenerSet

export interface ListenerSetSpec {
  parentRef: { group: string; kind: string; name: string; namespace?: string | undefined };
  listeners: GatewayListener[];
}

function parseListenerSet(doc: Field): ListenerSetSpec | undefined {
  notActedOn(doc);
  const spec = doc.child('spec').object(['parentRef', 'listeners'], { required: true });
  if (!spec) return undefined;
  const parent = objectRef(spec.child('parentRef'), { group: GATEWAY_API_GROUP, kind: 'Gateway' });
  const listenersField = spec.child('listeners');
  const listeners = listenersField.list(listener, { required: true, nonEmpty: true }) ?? [];
  if (listeners.length > 64) listenersField.error('at most 64 listeners');
  const names = listeners.map((item) => item.name);
  if (new Set(names).size !== names.length) listenersField.error('listener names must be unique');
  return parent === undefined ? undefined : { parentRef: parent, listeners };
}

// BackendTLSPolicy

export interface BackendTLSPolicySpec {
  targetRefs: { group: string; kind: string; name: string; sectionName?: string | undefined }[];
  validation: {
    caCertificateRefs: ObjectRef[];
    wellKnownCACertificates?: 'System' | undefined;
    hostname: string;
    subjectAltNames: { type: 'Hostname' | 'URI'; value: string }[];
  };
}

function subjectAltName(item: Field): { type: 'Hostname' | 'URI'; value: string } | undefined {
  const entry = item.object(['type', 'hostname', 'uri'], { required: true });
  if (!entry) return undefined;
  const type = entry.child('type').oneOf(['Hostname', 'URI'] as const, { required: true });
  if (type === undefined) return undefined;
  const [key, other] = type === 'Hostname' ? (['hostname', 'uri'] as const) : (['uri', 'hostname'] as const);
  if (entry.child(other).present) entry.child(other).error(`not allowed with type ${type} (use ${key})`);
  const value =
    type === 'Hostname'
      ? hostname(entry.child('hostname'))
      : entry.child('uri').string({
          required: true,
          pattern: /^[a-z][a-z0-9+.-]*:[^\s]+$/,
          patternHint: 'an absolute URI such as spiffe://cluster.local/ns/default/sa/web',
        });
  return value === undefined ? undefined : { type, value };
}

function parseBackendTLSPolicy(doc: Field): BackendTLSPolicySpec | undefined {
  notActedOn(doc);
  const spec = doc.child('spec').object(['targetRefs', 'validation', 'options'], { required: true });
  if (!spec) return undefined;
  const targetsField = spec.child('targetRefs');
  const targetRefs =
    targetsField.list(
      (item) => {
        const ref = item.object(['group', 'kind', 'name', 'sectionName'], { required: true });
        if (!ref) return undefined;
        const refGroup = group(ref.child('group'), '');
        const refKind = kind(ref.child('kind'), { required: true });
        const name = ref.child('name').string({ required: true, nonEmpty: true });
        const sectionName = ref
          .child('sectionName')
          .string({ pattern: SECTION_NAME, patternHint: 'a port name (DNS-1123 label)' });
        return refKind === undefined || name === undefined
          ? undefined
          : { group: refGroup, kind: refKind, name, sectionName };
      },
      { required: true, nonEmpty: true },
    ) ?? [];
  if (targetRefs.length > 16) targetsField.error('at most 16 targetRefs');
  const validation = spec
    .child('validation')
    .object(['caCertificateRefs', 'wellKnownCACertificates', 'hostname', 'subjectAltNames'], {
      required: true,
    });
  spec.child('options').map((item) => item.string({ required: true }));
  if (!validation) return undefined;
  const refsField = validation.child('caCertificateRefs');
  const caCertificateRefs = refsField.list((item) => objectRef(item, { group: '', kind: 'ConfigMap' })) ?? [];
  if (caCertificateRefs.length > 8) refsField.error('at most 8 caCertificateRefs');
  const wellKnown = validation.child('wellKnownCACertificates').oneOf(['System'] as const);
  if (caCertificateRefs.length > 0 === (wellKnown !== undefined)) {
    validation.error('set exactly one of caCertificateRefs and wellKnownCACertificates');
  }
  const host = hostname(validation.child('hostname'));
  const sansField = validation.child('subjectAltNames');
  const subjectAltNames = sansField.list(subjectAltName) ?? [];
  if (subjectAltNames.length > 5) sansField.error('at most 5 subjectAltNames');
  if (host === undefined) return undefined;
  return {
    targetRefs,
    validation: { caCertificateRefs, wellKnownCACertificates: wellKnown, hostname: host, subjectAltNames },
  };
}

export const GATEWAY_CLASS: KindDefinition<GatewayClassSpec> = {
  kind: 'GatewayClass',
  apiVersions: GATEWAY_API_VERSIONS,
  namespaced: false,
  parse: parseGatewayClass,
};

export const LISTENER_SET: KindDefinition<ListenerSetSpec> = {
  kind: 'ListenerSet',
  apiVersions: [GATEWAY_API_VERSIONS[0]],
  namespaced: true,
  parse: parseListenerSet,
};

export const BACKEND_TLS_POLICY: KindDefinition<BackendTLSPolicySpec> = {
  kind: 'BackendTLSPolicy',
  apiVersions: [GATEWAY_API_VERSIONS[0], 'gateway.networking.k8s.io/v1alpha3'],
  namespaced: true,
  parse: parseBackendTLSPolicy,
};

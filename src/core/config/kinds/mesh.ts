/**
 * The mesh kinds (Istio networking/security, Gateway API). PLACEHOLDER: these definitions only recognise the
 * kinds and their API versions and keep the document as it is; the control plane's parsers replace them.
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';

function keepAsIs(kind: string, apiVersions: readonly string[]): KindDefinition<unknown> {
  return { kind, apiVersions, namespaced: true, parse: (doc: Field) => doc.child('spec').value ?? {} };
}

const ISTIO_NETWORKING = [
  'networking.istio.io/v1',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1alpha3',
];
const ISTIO_SECURITY = ['security.istio.io/v1', 'security.istio.io/v1beta1'];
const GATEWAY_API = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'];

export const MESH_KINDS: readonly KindDefinition[] = [
  keepAsIs('VirtualService', ISTIO_NETWORKING),
  keepAsIs('DestinationRule', ISTIO_NETWORKING),
  keepAsIs('AuthorizationPolicy', ISTIO_SECURITY),
  keepAsIs('PeerAuthentication', ISTIO_SECURITY),
  keepAsIs('Gateway', GATEWAY_API),
  keepAsIs('HTTPRoute', GATEWAY_API),
];

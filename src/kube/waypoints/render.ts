/**
 * What a Gateway of class `istio-waypoint` deploys, as istiod's deployment controller renders it: a
 * ServiceAccount, a Deployment and a Service, each named like the Gateway (the waypoint's identity is
 * `ns/<ns>/sa/<gateway>`), labelled `gateway.networking.k8s.io/gateway-name` (the Service selects the pods
 * by it, and the control plane finds a waypoint's instances by it) and `gateway.istio.io/managed`, and owned
 * by the Gateway (ownerReferences), so deleting the Gateway deletes them. The Gateway's
 * `spec.infrastructure` labels and annotations go on every object and the pods, as Gateway API defines. Ambit adds a ConfigMap with the
 * mesh root, owned likewise: a pod can mount only ConfigMaps of its own namespace. Pure: the controller
 * applies what this returns and compares it with what it applied last.
 */
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DATAPLANE_MODE_LABEL, DATAPLANE_MODE_NONE, GATEWAY_NAME_LABEL } from '../../core/labels.ts';
import { WAYPOINT_PORTS } from '../../core/ports.ts';
import {
  CONTROL_TOKEN_FILE,
  controlCredentialMounts,
  controlCredentialVolumes,
  ROOT_CERT_FILE,
  readinessProbe,
} from '../manifests/control-credentials.ts';
import { asManifests, type ManifestObject } from '../manifests/metadata.ts';
import { restrictedContainer } from '../manifests/security.ts';
import { NAMES } from '../manifests/settings.ts';

/** The label istiod puts on what it deploys for a Gateway, and its value for waypoints. */
export const MANAGED_LABEL = 'gateway.istio.io/managed';
export const MANAGED_BY_MESH_CONTROLLER = 'istio.io-mesh-controller';

/** The Gateway, as much of it as the rendering reads. */
export interface WaypointGateway {
  name: string;
  namespace: string;
  uid: string;
  infrastructure?: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined;
}

export interface WaypointSettings {
  image: string;
  /** The control plane's gRPC address the waypoint dials (`ambit-control.<ns>.svc:15012`). */
  control: string;
  trustDomain: string;
  /** The mesh root the waypoint trusts (PEM). */
  rootCertPem: string;
}

export function waypointObjects(gateway: WaypointGateway, settings: WaypointSettings): ManifestObject[] {
  const { name, namespace } = gateway;
  const selector = { [GATEWAY_NAME_LABEL]: name };
  const infrastructure = gateway.infrastructure ?? {};
  const annotations = infrastructure.annotations ?? {};
  const metadata = {
    name,
    namespace,
    labels: { ...infrastructure.labels, ...selector, [MANAGED_LABEL]: MANAGED_BY_MESH_CONTROLLER },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    ownerReferences: [
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name, uid: gateway.uid },
    ],
  };
  const serviceAccount: IServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata };
  const rootConfigMap: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { ...metadata, name: `${name}-${NAMES.rootConfigMap}` },
    data: { 'root-cert.pem': settings.rootCertPem },
  };
  const deployment: IDeployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      // The count at creation only: a re-apply keeps the live one (apply.ts), scaled by hand or by an HPA.
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        // A waypoint is never captured itself: its traffic is the mesh's already.
        metadata: {
          labels: { ...infrastructure.labels, ...selector, [DATAPLANE_MODE_LABEL]: DATAPLANE_MODE_NONE },
          ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
        },
        spec: {
          serviceAccountName: name,
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: 'waypoint',
              image: settings.image,
              args: [
                'waypoint',
                'run',
                '--name',
                name,
                '--namespace',
                namespace,
                '--node',
                '$(NODE_NAME)',
                '--control',
                settings.control,
                '--token-file',
                CONTROL_TOKEN_FILE,
                '--ca-root',
                ROOT_CERT_FILE,
                '--trust-domain',
                settings.trustDomain,
              ],
              env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
              ports: [
                { name: 'mesh', containerPort: WAYPOINT_PORTS.hbone },
                { name: 'http-metrics', containerPort: WAYPOINT_PORTS.metrics },
                { name: 'status-port', containerPort: WAYPOINT_PORTS.readiness },
              ],
              readinessProbe: readinessProbe(WAYPOINT_PORTS.readiness),
              resources: { requests: { cpu: '100m', memory: '128Mi' } },
              securityContext: restrictedContainer(),
              volumeMounts: controlCredentialMounts(),
            },
          ],
          volumes: controlCredentialVolumes(rootConfigMap.metadata!.name!),
        },
      },
    },
  };
  const service: IService = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: {
      selector,
      ports: [
        { name: 'status-port', port: WAYPOINT_PORTS.readiness, protocol: 'TCP' },
        { name: 'mesh', port: WAYPOINT_PORTS.hbone, protocol: 'TCP', appProtocol: 'all' },
        { name: 'http-metrics', port: WAYPOINT_PORTS.metrics, protocol: 'TCP' },
      ],
    },
  };
  return asManifests(serviceAccount, rootConfigMap, deployment, service);
}

export interface GatewayCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number | undefined;
  lastTransitionTime?: string | undefined;
}

export interface GatewayStatusFields {
  addresses?: Array<{ type: string; value: string }> | undefined;
  conditions?: GatewayCondition[] | undefined;
}

/**
 * The Gateway's status once its objects are applied: `Programmed` with the Service's address (its cluster
 * IPs, else its DNS name), every other condition kept as it is (the config source owns `Accepted`). Returns
 * undefined when the status already says so (no write, so no watch event to answer).
 */
export function programmedStatus(
  current: GatewayStatusFields | undefined,
  service: { clusterIPs: readonly string[]; hostname: string },
  generation: number | undefined,
  now: Date,
): GatewayStatusFields | undefined {
  const addresses =
    service.clusterIPs.length > 0
      ? service.clusterIPs.map((value) => ({ type: 'IPAddress', value }))
      : [{ type: 'Hostname', value: service.hostname }];
  const previous = current?.conditions?.find((condition) => condition.type === 'Programmed');
  if (
    previous?.status === 'True' &&
    previous.observedGeneration === generation &&
    JSON.stringify(current?.addresses) === JSON.stringify(addresses)
  ) {
    return undefined;
  }
  const programmed: GatewayCondition = {
    type: 'Programmed',
    status: 'True',
    reason: 'Programmed',
    message: `deployed: Deployment, Service and ServiceAccount ${service.hostname.split('.')[0]}`,
    observedGeneration: generation,
    lastTransitionTime: previous?.status === 'True' ? previous.lastTransitionTime : now.toISOString(),
  };
  return {
    ...current,
    addresses,
    conditions: [...(current?.conditions ?? []).filter((c) => c.type !== 'Programmed'), programmed],
  };
}

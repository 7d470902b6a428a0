/**
 * The control plane: one Deployment (one replica: the config store and the push are in memory; a second
 * replica would need leader election, not written yet) and its Service, 15012 (gRPC over TLS: discovery and
 * CA) and 15014 (metrics). Its CA comes from the `ambit-ca` Secret that `ambit install` creates.
 */
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import { CONTROL_PLANE_PORTS } from '../../core/ports.ts';
import { appLabels, meta } from './metadata.ts';
import { restrictedContainer } from './security.ts';
import { type InstallSettings, NAMES } from './settings.ts';

const CA_DIR = '/etc/ambit/ca';

export function controlPlaneObjects(settings: InstallSettings): [IDeployment, IService] {
  const labels = appLabels(NAMES.control);
  const deployment: IDeployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(NAMES.control, settings),
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: NAMES.control,
          priorityClassName: 'system-cluster-critical',
          containers: [
            {
              name: 'control',
              image: settings.image,
              args: [
                'control',
                '--kubernetes',
                // TokenReview: only the ztunnel pods' tokens prove a node.
                '--node-account',
                `${settings.namespace}/${NAMES.ztunnel}`,
                '--listen',
                `0.0.0.0:${CONTROL_PLANE_PORTS.grpc}`,
                '--metrics-port',
                String(CONTROL_PLANE_PORTS.metrics),
                '--trust-domain',
                settings.trustDomain,
                '--state-dir',
                '/var/lib/ambit',
                '--ca-cert',
                `${CA_DIR}/ca-cert.pem`,
                '--ca-key',
                `${CA_DIR}/ca-key.pem`,
                '--waypoint-image',
                settings.image,
              ],
              // The waypoint controller's Lease lives in the pod's namespace, held under the pod's name.
              env: [
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              ],
              ports: [
                { name: 'grpc-xds', containerPort: CONTROL_PLANE_PORTS.grpc },
                { name: 'http-monitoring', containerPort: CONTROL_PLANE_PORTS.metrics },
              ],
              readinessProbe: { tcpSocket: { port: CONTROL_PLANE_PORTS.grpc }, periodSeconds: 5 },
              resources: { requests: { cpu: '100m', memory: '256Mi' } },
              securityContext: restrictedContainer(),
              volumeMounts: [
                { name: 'ca', mountPath: CA_DIR, readOnly: true },
                { name: 'state', mountPath: '/var/lib/ambit' },
              ],
            },
          ],
          volumes: [
            { name: 'ca', secret: { secretName: NAMES.caSecret, defaultMode: 0o400 } },
            { name: 'state', emptyDir: {} },
          ],
        },
      },
    },
  };
  const service: IService = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(NAMES.control, settings),
    spec: {
      selector: labels,
      ports: [
        { name: 'grpc-xds', port: CONTROL_PLANE_PORTS.grpc, targetPort: CONTROL_PLANE_PORTS.grpc },
        {
          name: 'http-monitoring',
          port: CONTROL_PLANE_PORTS.metrics,
          targetPort: CONTROL_PLANE_PORTS.metrics,
        },
      ],
    },
  };
  return [deployment, service];
}

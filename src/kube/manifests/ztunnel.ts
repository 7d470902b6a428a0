/**
 * The ztunnel DaemonSet, one per node: the mesh's data plane and the node agent that serves enrollment on
 * `/var/run/ambit/enroll.sock` (a hostPath, where the CNI plugin on the host finds it). Not host network:
 * its admin, metrics and readiness ports live in its own pod; its listeners for each enrolled pod live in
 * that pod's namespace, which it opens by the path the CNI plugin sends (the host's `/var/run/netns`,
 * mounted with HostToContainer propagation so namespaces made after it started are visible).
 */
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { CONTROL_PLANE_PORTS, ZTUNNEL_PORTS } from '../../core/ports.ts';
import {
  CONTROL_TOKEN_FILE,
  controlCredentialMounts,
  controlCredentialVolumes,
  ROOT_CERT_FILE,
  readinessProbe,
} from './control-credentials.ts';
import { nodeDaemonSet } from './metadata.ts';
import { NODE_NAME_ENV, RUNTIME_NETNS_MOUNT, RUNTIME_NETNS_VOLUME } from './node-shared.ts';
import { ztunnelContainer } from './security.ts';
import { HOST_RUN_DIR, type InstallSettings, NAMES } from './settings.ts';

export function ztunnelObjects(settings: InstallSettings): [IDaemonSet] {
  return [
    nodeDaemonSet(NAMES.ztunnel, settings, {
      // Enrolled pods' traffic stops while it is away: let it drain its connections on a rollout.
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: 'ztunnel',
          image: settings.image,
          args: [
            'ztunnel',
            '--node',
            '$(NODE_NAME)',
            '--control',
            `${NAMES.control}.${settings.namespace}.svc:${CONTROL_PLANE_PORTS.grpc}`,
            '--token-file',
            CONTROL_TOKEN_FILE,
            '--ca-root',
            ROOT_CERT_FILE,
            '--enroll-socket',
            `${HOST_RUN_DIR}/enroll.sock`,
          ],
          env: [
            NODE_NAME_ENV,
            // iptables takes its lock under /run, read-only here: the writable /tmp instead.
            { name: 'XTABLES_LOCKFILE', value: '/tmp/xtables.lock' },
          ],
          ports: [
            { name: 'http-metrics', containerPort: ZTUNNEL_PORTS.metrics },
            { name: 'http-ready', containerPort: ZTUNNEL_PORTS.readiness },
          ],
          readinessProbe: readinessProbe(ZTUNNEL_PORTS.readiness),
          resources: { requests: { cpu: '200m', memory: '512Mi' } },
          securityContext: ztunnelContainer(),
          volumeMounts: [
            { name: 'ambit-run', mountPath: HOST_RUN_DIR },
            RUNTIME_NETNS_MOUNT,
            ...controlCredentialMounts(),
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
      ],
      volumes: [
        { name: 'ambit-run', hostPath: { path: HOST_RUN_DIR, type: 'DirectoryOrCreate' } },
        RUNTIME_NETNS_VOLUME,
        ...controlCredentialVolumes(NAMES.rootConfigMap),
        { name: 'tmp', emptyDir: {} },
      ],
    }),
  ];
}

/**
 * The CNI node agent DaemonSet: host network (it runs before pod networking works on a new node), it copies
 * Ambit (with its Node.js runtime) to the host, writes the `ambit-cni` launcher into the host's CNI bin
 * directory, adds the plugin to the primary conflist, and writes the plugin's kubeconfig from its own service
 * account (`ambit cni install`); on termination it takes the plugin out of the conflist again. At start it
 * enrolls the node's running ambient pods, found in the runtime's pinned namespaces (src/cni/pinned-netns.ts).
 */
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { nodeDaemonSet } from './metadata.ts';
import { NODE_NAME_ENV, RUNTIME_NETNS_MOUNT, RUNTIME_NETNS_VOLUME } from './node-shared.ts';
import { cniInstallerContainer } from './security.ts';
import { HOST_RUN_DIR, type InstallSettings, NAMES } from './settings.ts';

/** Where the DaemonSet puts Ambit on the host, for the launcher to run. */
export const HOST_APP_DIR = '/opt/ambit';

export function cniNodeObjects(settings: InstallSettings): [IDaemonSet] {
  return [
    nodeDaemonSet(NAMES.cniNode, settings, {
      hostNetwork: true,
      containers: [
        {
          name: 'install-cni',
          image: settings.image,
          args: [
            'cni',
            'install',
            '--bin-dir',
            '/host/cni/bin',
            '--conf-dir',
            '/host/cni/net.d',
            '--app-dir',
            `/host${HOST_APP_DIR}`,
            '--host-app-dir',
            HOST_APP_DIR,
            '--host-conf-dir',
            settings.cniConfDir,
            '--enroll-socket',
            `${HOST_RUN_DIR}/enroll.sock`,
          ],
          env: [
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'DAEMONSET_NAME', value: NAMES.cniNode },
            NODE_NAME_ENV,
          ],
          resources: { requests: { cpu: '10m', memory: '64Mi' } },
          securityContext: cniInstallerContainer(),
          volumeMounts: [
            { name: 'cni-bin', mountPath: '/host/cni/bin' },
            { name: 'cni-conf', mountPath: '/host/cni/net.d' },
            { name: 'app', mountPath: `/host${HOST_APP_DIR}` },
            RUNTIME_NETNS_MOUNT,
          ],
        },
      ],
      volumes: [
        { name: 'cni-bin', hostPath: { path: settings.cniBinDir, type: 'DirectoryOrCreate' } },
        { name: 'cni-conf', hostPath: { path: settings.cniConfDir, type: 'DirectoryOrCreate' } },
        { name: 'app', hostPath: { path: HOST_APP_DIR, type: 'DirectoryOrCreate' } },
        RUNTIME_NETNS_VOLUME,
      ],
    }),
  ];
}

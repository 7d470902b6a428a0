/**
 * What an install of Ambit on Kubernetes is parameterised by, with the defaults `ambit install` uses. The
 * manifests are a pure function of these (render.ts), so `--dry-run`, the golden test and the install
 * itself can never disagree.
 */
import { CLUSTER_DOMAIN } from '../../core/labels.ts';

export interface InstallSettings {
  namespace: string;
  /** The Ambit image every container runs (the checkout and its pinned Node.js runtime under /opt/ambit). */
  image: string;
  trustDomain: string;
  /** The host's CNI directories, where the node DaemonSet installs the plugin and its conflist entry. */
  cniBinDir: string;
  cniConfDir: string;
}

/** Oldest Kubernetes the manifests are written for (and validated against): 1.30 (AppArmor fields, sidecars GA-ready). */
export const KUBERNETES_VERSION = '1.30';

/** Audience of the ztunnel's projected token: the control plane checks it in its TokenReview. */
export const CONTROL_TOKEN_AUDIENCE = 'ambit-control';

/** Where the node agent (the ztunnel) serves enrollment on every node; the CNI plugin's default socket. */
export const HOST_RUN_DIR = '/var/run/ambit';

/**
 * Where containerd and CRI-O pin pod sandboxes' network namespaces on the host (the CNI_NETNS they pass);
 * both node DaemonSets mount it at the same path (src/cni/pinned-netns.ts says why).
 */
export const RUNTIME_NETNS_DIR = '/var/run/netns';

/** The names every object of an install carries, so `uninstall` and operators find them. */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PART_OF = 'ambit';

export const NAMES = {
  control: 'ambit-control',
  ztunnel: 'ambit-ztunnel',
  cniNode: 'ambit-cni-node',
  /** Secret with the mesh CA's certificate and key (created by `ambit install`, never rendered in git). */
  caSecret: 'ambit-ca',
  /** ConfigMap with the root certificate the ztunnels trust. */
  rootConfigMap: 'ambit-root-cert',
} as const;

export function defaultSettings(version: string): InstallSettings {
  return {
    namespace: 'ambit-system',
    image: `ambit:${version}`,
    trustDomain: CLUSTER_DOMAIN,
    cniBinDir: '/opt/cni/bin',
    cniConfDir: '/etc/cni/net.d',
  };
}

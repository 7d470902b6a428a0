/** The container security contexts, each with the least it needs (README: "The DaemonSets' privileges"). */
import type { ISecurityContext } from 'kubernetes-models/v1/SecurityContext';

/** A container that needs no privilege: non-root, no capabilities, read-only root, no escalation. */
export function restrictedContainer(): ISecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: 1337,
    runAsGroup: 1337,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * The ztunnel: root, not privileged, every capability dropped but the three it uses. NET_ADMIN installs the
 * capture rules and policy routes inside each pod's namespace and sets SO_MARK; SYS_ADMIN lets it `setns`
 * into a pod's network namespace to open listeners there; NET_RAW sets IP_TRANSPARENT for spoofed-source
 * connections to the app.
 */
export function ztunnelContainer(): ISecurityContext {
  return {
    privileged: false,
    runAsNonRoot: false,
    runAsUser: 0,
    runAsGroup: 1337,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW'] },
  };
}

/**
 * The CNI node agent writes files into the host's CNI directories (root-owned, so uid 0 suffices) and reads
 * the API. Unlike istio-cni it installs no rules itself (the ztunnel does) and needs no hostPID: its one
 * capability, SYS_ADMIN, lets it `setns` into the runtime's pinned pod namespaces to read their addresses
 * when it enrolls pods that were running before it (src/cni/pinned-netns.ts).
 */
export function cniInstallerContainer(): ISecurityContext {
  return {
    privileged: false,
    runAsUser: 0,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] },
  };
}

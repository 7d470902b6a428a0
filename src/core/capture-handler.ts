/**
 * The seam between enrollment and the data plane: the node agent (`src/redirect`) calls a CaptureHandler to
 * open and close a pod's listeners inside the pod's network namespace. The ztunnel implements it with its
 * proxies; `redirect/plain-capture.ts` is a stand-in that only reports what it captured (tests). It lives in
 * core because both sides of the seam use it and neither may import the other.
 */
import type { Netns } from './sys/netns-socket.ts';

/**
 * SO_MARK of every socket the in-pod proxy opens (1337, as Istio's ztunnel uses): the pod's capture rules
 * let marked packets through, so the proxy's own connections are never captured again.
 */
export const PROXY_SOCKET_MARK = 0x539;

/** A pod as the agent needs it to capture its traffic. */
export interface EnrolledPod {
  /** Stable id: `<namespace>/<name>` in the local cluster, the pod UID on Kubernetes. */
  uid: string;
  name: string;
  namespace: string;
  serviceAccount: string;
  ips: string[];
  /** Path of the pod's network namespace (`/run/netns/<name>`, `/proc/<pid>/ns/net`...). */
  netns: string;
}

export interface CaptureHandler {
  /**
   * Opens the pod's listeners inside `netns` (held open by the agent until removePod): TCP 15001 (outbound),
   * 15006 (inbound plaintext), 15008 (HBONE) on the wildcard addresses, and DNS 15053 over UDP and TCP on
   * the loopback addresses (where REDIRECT from the pod's OUTPUT delivers). Every socket carries mark 0x539.
   * Use `src/core/sys/netns-socket.ts` for each socket. Rejects if any listener cannot be opened, after
   * closing the ones it did open; the pod is then not enrolled.
   */
  addPod(pod: EnrolledPod, netns: Netns): Promise<void>;
  /** Closes the pod's listeners (connections already accepted may drain). Resolves for an unknown uid. */
  removePod(uid: string): Promise<void>;
}

/**
 * The seam between enrollment and the data plane: the node agent calls a CaptureHandler to open and close a
 * pod's listeners inside the pod's network namespace. The ztunnel implements it with its proxies;
 * `plain-capture.ts` is a stand-in that only reports what it captured (tests, and until the ztunnel exists).
 */
import type { Netns } from '../core/sys/netns-socket.ts';
import type { EnrolledPod } from './enroll/protocol.ts';

export type { EnrolledPod } from './enroll/protocol.ts';

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

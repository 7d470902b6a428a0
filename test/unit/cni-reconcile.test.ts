/** Which cgroup lines put a process in a pod: how the reconciler finds a running pod's sandbox. */
import { describe, expect, it } from 'vitest';
import { cgroupOfPod } from '../../src/cni/reconcile.ts';

const UID = '6f1c2a9e-55b1-4d2c-9a3e-0c7d8b1e2f30';

describe('cgroupOfPod', () => {
  it.each<[string, string, boolean]>([
    ['cgroupfs driver, v1', `8:pids:/kubepods/besteffort/pod${UID}/0123abcd\n`, true],
    ['cgroupfs driver, v2', `0::/kubepods/burstable/pod${UID}/0123abcd\n`, true],
    [
      'systemd driver',
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-0123.scope\n`,
      true,
    ],
    [
      'guaranteed QoS, systemd',
      `0::/kubepods.slice/kubepods-pod${UID.replaceAll('-', '_')}.slice/x.scope\n`,
      true,
    ],
    ['another pod', '0::/kubepods/besteffort/pod11111111-2222-3333-4444-555555555555/abc\n', false],
    ['a uid prefix only', `0::/kubepods/besteffort/pod${UID.slice(0, 20)}/abc\n`, false],
    ['the uid elsewhere in a name', `0::/system.slice/backup-${UID}.service\n`, false],
    ['not in a pod', '0::/user.slice/user-0.slice/session-1.scope\n', false],
  ])('%s', (_, text, expected) => {
    expect(cgroupOfPod(text, UID)).toBe(expected);
  });
});

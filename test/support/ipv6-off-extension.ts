/**
 * A cluster extension for the fail-closed test of enrollment: before the supervisor starts, it turns IPv6
 * off inside the namespace of every pod annotated `test.ambit.dev/ipv6: "off"` (as a pod's own sysctls
 * would). The capture rules include an IPv6 policy route, which the kernel then refuses, so the node agent
 * really cannot capture that pod. Only the pod's own namespace is touched. (Should the agent ever install
 * the IPv4 part alone where IPv6 is off, the fail-closed test needs another real failure.)
 */
import { execFileSync } from 'node:child_process';
import type { ClusterExtension } from '../../src/local/extensions.ts';

export const IPV6_ANNOTATION = 'test.ambit.dev/ipv6';

export function setPodIpv6(netns: string, enabled: boolean): void {
  const value = enabled ? '0' : '1';
  execFileSync('ip', [
    'netns',
    'exec',
    netns,
    'sysctl',
    '-qw',
    `net.ipv6.conf.all.disable_ipv6=${value}`,
    `net.ipv6.conf.default.disable_ipv6=${value}`,
    `net.ipv6.conf.lo.disable_ipv6=${value}`,
  ]);
}

export const extension: ClusterExtension = {
  name: 'ipv6-off',
  async prepare({ cluster }) {
    for (const pod of cluster.pods) {
      if (pod.annotations[IPV6_ANNOTATION] === 'off') setPodIpv6(pod.netns, false);
    }
  },
};

/**
 * A node's pod bridge keeps its MAC while pods come and go. Linux gives a bridge without an address of its
 * own the lowest MAC of its ports, so removing the pod whose veth had it changed the gateway's MAC under
 * every other pod of the node: their cached gateway entry then pointed nowhere, and their traffic to other
 * nodes (HBONE tunnels included) was lost for tens of seconds until ARP gave up on the entry. Built here
 * with the cluster's own commands in network namespaces of this run.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { macForIPv4 } from '../../src/local/addresses.ts';
import { deleteNetns, listNetns } from '../../src/local/netns.ts';
import { ipBatch } from '../../src/local/run.ts';
import { podBridgeCommands, podLinkCommands } from '../../src/local/topology.ts';
import { uniqueName } from '../support/local-cluster.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const macOf = (netns: string, device: string) =>
  (
    JSON.parse(execFileSync('ip', ['-n', netns, '-j', 'link', 'show', device], { encoding: 'utf8' })) as {
      address: string;
    }[]
  )[0]!.address;

describe.runIf(canRunNetnsTests())('the pod bridge of a node', () => {
  const prefix = uniqueName('it-bridge');
  const nodeNetns = `${prefix}.node`;
  const node = { podBridge: 'cbr0', gatewayIP: '10.244.0.1', podCIDR: '10.244.0.0/24' };
  const pods = [2, 3, 4, 5].map((host) => ({
    hostVeth: `veth${host}`,
    netns: `${prefix}.pod${host}`,
    ips: [`10.244.0.${host}`],
  }));

  afterAll(async () => {
    await deleteNetns([nodeNetns, ...pods.map((pod) => pod.netns)]);
    expect(listNetns().filter((name) => name.startsWith(prefix))).toEqual([]);
  });

  it('keeps the gateway MAC while pods are added and removed, and gives each pod the MAC of its address', async () => {
    await ipBatch([`netns add ${nodeNetns}`, ...pods.map((pod) => `netns add ${pod.netns}`)]);
    await ipBatch(podBridgeCommands(node), nodeNetns);
    const gateway = macForIPv4(node.gatewayIP);
    expect(macOf(nodeNetns, 'cbr0')).toBe(gateway);
    for (const pod of pods) {
      await ipBatch(podLinkCommands(pod, node), nodeNetns);
      expect(macOf(pod.netns, 'eth0')).toBe(macForIPv4(pod.ips[0]!));
      expect(macOf(nodeNetns, 'cbr0')).toBe(gateway);
    }
    // Remove the pods' veths lowest MAC first: each was the one a bridge without its own MAC would have had.
    const byMac = [...pods].sort((a, b) =>
      macOf(nodeNetns, a.hostVeth).localeCompare(macOf(nodeNetns, b.hostVeth)),
    );
    for (const pod of byMac.slice(0, -1)) {
      await ipBatch([`link del ${pod.hostVeth}`], nodeNetns);
      expect(macOf(nodeNetns, 'cbr0')).toBe(gateway);
    }
  });
});

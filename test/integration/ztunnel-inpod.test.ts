/**
 * The ztunnel's capture handler on a real pod namespace: the listeners it opens live inside the pod's netns
 * and carry mark 0x539 (15001/15006/15008 on the wildcard, DNS 15053 on loopback, UDP and TCP), removing the
 * pod closes them, and a pod whose workload never appears in the config is refused (fail closed) after the
 * bounded wait, with nothing left listening.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnrolledPod } from '../../src/core/capture-handler.ts';
import { Netns } from '../../src/core/sys/netns-socket.ts';
import { ZtunnelCaptureHandler } from '../../src/ztunnel/inpod/capture-handler.ts';
import { ZTUNNEL_SOCKET_MARK } from '../../src/ztunnel/settings.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { quietLogs } from '../support/logging.ts';
import { snapshot, workload } from '../support/mesh-fixtures.ts';
import { createNetnsPair, type NetnsPair, nsExec } from '../support/netns-fixture.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { TestCa } from '../support/test-ca.ts';
import { createHarness, type Harness } from '../support/ztunnel-harness.ts';

/** `ss` lines of the namespace's sockets on the ztunnel's ports, with their marks. */
async function ztunnelSockets(netns: string): Promise<string[]> {
  const out = await nsExec(netns, ['ss', '-Hlntu', '-e', '-O', '-m']);
  return out
    .split('\n')
    .filter((line) => /:(15001|15006|15008|15053)\s/.test(line))
    .map((line) => line.replace(/\s+/g, ' '));
}

describe.runIf(canRunNetnsTests())('the ztunnel capture handler in a pod namespace', () => {
  let pair: NetnsPair;
  let harness: Harness;
  let ztunnel: Ztunnel;
  let handler: ZtunnelCaptureHandler;
  const handles: Netns[] = [];
  const enrolled = (name: string): EnrolledPod => ({
    uid: `default/${name}`,
    name,
    namespace: 'default',
    serviceAccount: name,
    ips: [pair.podIp],
    netns: pair.podPath,
  });
  const open = () => {
    const netns = Netns.open(pair.podPath);
    handles.push(netns);
    return netns;
  };

  beforeAll(() => {
    quietLogs();
    pair = createNetnsPair('zi');
    harness = createHarness(new TestCa());
    ztunnel = harness.ztunnel('node-a');
    ztunnel.applySnapshot(snapshot({ workloads: [workload({ name: 'app', ips: [pair.podIp] })] }));
    handler = new ZtunnelCaptureHandler(ztunnel, { workloadWaitMs: 300 });
  });

  afterAll(async () => {
    await harness?.close();
    for (const netns of handles) netns.close();
    pair?.destroy();
  });

  it('opens the marked listeners inside the pod, and closes them on removal', async () => {
    await handler.addPod(enrolled('app'), open());
    const mark = `fwmark:0x${ZTUNNEL_SOCKET_MARK.toString(16)}`;
    const sockets = await ztunnelSockets(pair.pod);
    for (const expected of [
      /^tcp LISTEN .* 0\.0\.0\.0:15001 /,
      /^tcp LISTEN .* 0\.0\.0\.0:15006 /,
      /^tcp LISTEN .* 127\.0\.0\.1:15053 /,
      /^udp UNCONN .* 127\.0\.0\.1:15053 /,
    ]) {
      const line = sockets.find((s) => expected.test(s));
      expect(line, `${expected} in\n${sockets.join('\n')}`).toBeDefined();
      expect(line).toContain(mark);
    }
    expect(ztunnel.podUids).toEqual(['default/app']);
    await handler.removePod('default/app');
    expect(await ztunnelSockets(pair.pod)).toEqual([]);
  });

  it('refuses a pod the config never names, leaving nothing open', async () => {
    await expect(handler.addPod(enrolled('stranger'), open())).rejects.toThrow(
      /no workload default\/stranger after 300 ms/,
    );
    expect(ztunnel.podUids).toEqual([]);
    expect(await ztunnelSockets(pair.pod)).toEqual([]);
  });

  it('serves a pod whose config arrives while it waits', async () => {
    const adding = handler.addPod(enrolled('late'), open());
    ztunnel.applySnapshot(
      snapshot({
        version: '2',
        workloads: [
          workload({ name: 'app', ips: [pair.podIp] }),
          workload({ name: 'late', ips: [pair.podIp] }),
        ],
      }),
    );
    await adding;
    expect(ztunnel.podUids).toEqual(['default/late']);
    await handler.removePod('default/late');
  });
});

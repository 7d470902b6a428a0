/**
 * A cluster across hosts, on one host: `up --span-nodes n1,n2 --underlay-device <dummy>` realizes both nodes
 * here, so the span's machinery runs for real without a second machine: the device joins the fabric bridge
 * (and goes with `down`), the node gateway runs beside the control plane, and the client a joining host's
 * supervisor uses (TLS pinned to the bundle's certificate, connected from the node's namespace, the node's
 * token) reports that node's pods and nothing else: another node's pod, a forged identity, a wrong token and
 * an unpinned certificate are refused. The join bundle carries what that client needs. Across two real hosts:
 * test/vagrant.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import { controlPlaneEndpoint, nodeCredentialFile, podInfo } from '../../src/local/mesh/control-plane.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { parseJoinBundle } from '../../src/local/span/join-bundle.ts';
import { connectFromNode, nodeGatewayClient } from '../../src/local/span/node-gateway-process.ts';
import { NODE_GATEWAY_IDENTITY, nodeGatewayAddress } from '../../src/local/span/span.ts';
import { readClusterState, statePaths } from '../../src/local/state.ts';
import type { ClusterState } from '../../src/local/types.ts';
import { ambit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { clusterDoc, echoPod, manifests, namespaceDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

/** Generous: on a loaded 2-core machine one call (TLS, the gateway, the control plane's API) can take seconds. */
const CALL_TIMEOUT_MS = 30_000;

describe.runIf(canRunNetnsTests())('a cluster across hosts, both nodes on this one', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-span');
  const device = `sp${name.slice(-6)}`;
  const peerNetns = `${name}-peer`;
  const local = (...args: string[]) => ambit(['local', ...args, '--name', name], { stateRoot: root });
  let cluster: ClusterState;
  let api: ControlApiClient;

  const pod = (podName: string) => cluster.pods.find((candidate) => candidate.name === podName)!;
  const node = (nodeName: string) => cluster.nodes.find((candidate) => candidate.name === nodeName)!;
  const reportedPods = async () => (await api.listPods()).pods.map((p) => `${p.name}@${p.node}`).sort();

  beforeAll(async () => {
    // The "other host" is a namespace of this test's holding the veth's far end (this kernel has no dummy).
    execFileSync('ip', ['netns', 'add', peerNetns]);
    execFileSync('ip', ['link', 'add', device, 'type', 'veth', 'peer', 'name', 'eth9', 'netns', peerNetns]);
    const file = writeClusterFile(
      root,
      name,
      manifests(
        clusterDoc(name),
        namespaceDoc('shop'),
        echoPod('cart', { namespace: 'shop', node: 'n1', serviceAccount: 'cart' }),
        echoPod('pay', { namespace: 'shop', node: 'n2', serviceAccount: 'pay' }),
      ),
    );
    const result = await ambit(
      ['local', 'up', '-f', file, '--span-nodes', 'n1,n2', '--underlay-device', device],
      {
        stateRoot: root,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    cluster = readClusterState(statePaths(join(root, name)))!;
    api = new ControlApiClient(controlPlaneEndpoint(cluster).socket);
  });

  afterAll(async () => {
    await local('down');
    rmSync(root, { recursive: true, force: true });
    try {
      execFileSync('ip', ['link', 'del', device], { stdio: 'ignore' });
    } catch {
      // Gone with the fabric namespace (a veth is deleted with it), as it should be.
    }
    execFileSync('ip', ['netns', 'del', peerNetns]);
  });

  it('puts the device on the fabric bridge and runs the node gateway beside the control plane', async () => {
    const link = execFileSync('ip', ['-n', cluster.fabric.netns, '-o', 'link', 'show', device], {
      encoding: 'utf8',
    });
    expect(link).toContain(`master ${cluster.fabric.bridge}`);
    const report = JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
    const gateway = report.system.find((process) => process.id === 'node-gateway');
    expect([gateway?.node, gateway?.ready]).toEqual(['n1', true]);
    expect(await reportedPods()).toEqual(['cart@n1', 'pay@n2']);
  });

  it('prints a join bundle with what a host of n2 needs, and none for the control plane node', async () => {
    const printed = await local('join-bundle', '--nodes', 'n2');
    expect(printed.code, printed.stderr).toBe(0);
    const bundle = parseJoinBundle(printed.stdout);
    expect(bundle.gateway).toBe(nodeGatewayAddress(cluster));
    expect(bundle.nodeTokens).toEqual({ n2: readFileSync(nodeCredentialFile(cluster, 'n2'), 'utf8').trim() });
    expect(bundle.rootCertPem).toBe(readFileSync(controlPlaneEndpoint(cluster).rootCertFile, 'utf8'));
    const refused = await local('join-bundle', '--nodes', 'n1');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/stays on this host/);
  });

  it("lets n2's client report, remove and sync n2's pods through the gateway", async () => {
    const n2 = nodeGatewayClient(cluster, node('n2'), CALL_TIMEOUT_MS);
    await n2.removePod('shop', 'pay');
    expect(await reportedPods()).toEqual(['cart@n1']);
    await n2.reportPod(podInfo(pod('pay'), true));
    expect(await reportedPods()).toEqual(['cart@n1', 'pay@n2']);
    await n2.syncNodePods('n2', [podInfo(pod('pay'), true)]);
    expect(await reportedPods()).toEqual(['cart@n1', 'pay@n2']);
  });

  it('refuses what n2 may not do, and callers it cannot authenticate or that do not pin it', async () => {
    const n2 = nodeGatewayClient(cluster, node('n2'), CALL_TIMEOUT_MS);
    await expect(n2.reportPod({ ...podInfo(pod('cart'), true), node: 'n2' })).rejects.toThrow(/other-node/);
    await expect(n2.removePod('shop', 'cart')).rejects.toThrow(/other-node/);
    await expect(n2.reportPod({ ...podInfo(pod('pay'), true), serviceAccount: 'cart' })).rejects.toThrow(
      /identity-mismatch/,
    );
    await expect(n2.syncNodePods('n1', [])).rejects.toThrow(/other-node/);
    await expect(n2.apply([])).rejects.toThrow(/no-such-call/);

    const [host, port] = nodeGatewayAddress(cluster).split(':');
    const gatewayCert = readFileSync(join(cluster.stateDir, 'control', 'node-gateway', 'cert.pem'), 'utf8');
    // The same connection path (from n2's namespace) with a wrong token, and with the mesh root pinned instead.
    const connect = connectFromNode(node('n2'), host!, Number(port));
    const through = (caPem: string, token: string) =>
      new ControlApiClient(
        { host: host!, port: Number(port), caPem, serverIdentity: NODE_GATEWAY_IDENTITY, token, connect },
        { timeoutMs: CALL_TIMEOUT_MS },
      );
    await expect(through(gatewayCert, 'not-a-token').reportPod(podInfo(pod('pay'), true))).rejects.toThrow(
      /no valid node token/,
    );
    const meshRoot = readFileSync(controlPlaneEndpoint(cluster).rootCertFile, 'utf8');
    const token = readFileSync(nodeCredentialFile(cluster, 'n2'), 'utf8').trim();
    await expect(through(meshRoot, token).reportPod(podInfo(pod('pay'), true))).rejects.toThrow(
      /certificate/,
    );
    // Nothing refused changed what the control plane holds.
    expect(await reportedPods()).toEqual(['cart@n1', 'pay@n2']);
  });

  it('leaves nothing behind at down, the device included', async () => {
    await local('down');
    await eventually(
      () => (JSON.stringify(leftovers(name, root)) === JSON.stringify(NOTHING_LEFT) ? true : undefined),
      {
        timeout: 10_000,
        what: 'nothing of the cluster left',
      },
    );
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    expect(() => execFileSync('ip', ['link', 'show', device], { stdio: 'ignore' })).toThrow();
    expect(execFileSync('ip', ['-n', peerNetns, '-o', 'link'], { encoding: 'utf8' })).not.toContain('eth9');
  });
});

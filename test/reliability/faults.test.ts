/**
 * Issue 8's faults, on one real two-node local cluster: a client pod on n1 talks to an echo pod on n2
 * through the Service VIP (captured by the pod's rules, HBONE across the fabric).
 *
 * - n1's ztunnel killed -9 in the middle of a download: the download ends in a reset (never a clean end of a
 *   cut stream), only HBONE (15008) crosses n1's underlay and no request text does, connections from the
 *   pod fail while no ztunnel serves it instead of going around it, and the supervisor's new ztunnel serves
 *   the next connection. The recovery time is printed, not asserted.
 * - The control plane stopped (SIGSTOP), then killed (-9) and restarted by the supervisor: known workloads
 *   see no failed request meanwhile (last known good config), and a policy applied once it is back holds.
 *
 * Requests are made by this process from sockets it opens inside the client pod's network namespace, so they
 * are captured exactly like the pod's own; every loop is bounded in count and time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, startTcpConnect } from '../../src/core/sys/netns-socket.ts';
import { netnsPath, nodeNetns, podNetns } from '../../src/local/names.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { healthyLoop } from '../support/attack-kit.ts';
import { ambit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  isAlive,
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import {
  authorizationPolicyDoc,
  clusterDoc,
  echoPod,
  manifests,
  namespaceDoc,
  podDoc,
  serviceDoc,
} from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('mesh', { ambient: true }),
    echoPod('echo', { namespace: 'mesh', node: 'n2', serviceAccount: 'echo', labels: { app: 'echo' } }),
    podDoc('client', { namespace: 'mesh', node: 'n1', serviceAccount: 'client', labels: { app: 'client' } }),
    serviceDoc('echo', { namespace: 'mesh' }),
  );

/** How an HTTP exchange over a raw socket ended. */
interface Exchange {
  status: number;
  /** Bytes of the body received. */
  bodyBytes: number;
  contentLength: number | undefined;
  end: 'fin' | 'reset' | 'refused' | 'timeout' | 'error';
  error?: string | undefined;
}

const MiB = 2 ** 20;

describe.runIf(canRunNetnsTests())('faults: a ztunnel and the control plane killed under traffic', () => {
  const root = makeStateRoot();
  const name = uniqueName('rl-fault');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const status = async () =>
    JSON.parse((await run('local', 'status', '--name', name, '-o', 'json')).stdout) as ClusterReport;
  const systemPid = (report: ClusterReport, id: string) => report.system.find((p) => p.id === id)?.pid;
  const stopped: number[] = [];
  let report: ClusterReport;
  let clientNetns: Netns;
  let vip: string;
  const podIp = (pod: string) => report.pods.find((p) => p.name === pod)!.ip;

  /**
   * GET `path` from the client pod to the echo Service; `hold` is called once the response head is in (the
   * socket paused) and the exchange goes on when its promise settles.
   */
  function get(path: string, timeoutMs: number, hold?: () => Promise<void>): Promise<Exchange> {
    return new Promise((resolve) => {
      const result: Exchange = { status: 0, bodyBytes: 0, contentLength: undefined, end: 'error' };
      let head = Buffer.alloc(0);
      let settled = false;
      let socket: Socket;
      try {
        socket = startTcpConnect(clientNetns, { address: vip, port: 80 });
      } catch (error) {
        resolve({ ...result, end: 'error', error: String(error) });
        return;
      }
      const finish = (end: Exchange['end']) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve({ ...result, end });
      };
      let timer = setTimeout(() => finish('timeout'), timeoutMs);
      socket.once('connect', () =>
        socket.write(`GET ${path} HTTP/1.1\r\nHost: echo.mesh\r\nConnection: close\r\n\r\n`),
      );
      socket.on('data', (chunk: Buffer) => {
        if (result.status !== 0) {
          result.bodyBytes += chunk.length;
          return;
        }
        head = Buffer.concat([head, chunk]);
        const split = head.indexOf('\r\n\r\n');
        if (split < 0) return;
        const text = head.subarray(0, split).toString('latin1');
        result.status = Number(text.split(' ')[1]);
        const length = /^content-length: *(\d+)/im.exec(text)?.[1];
        result.contentLength = length === undefined ? undefined : Number(length);
        result.bodyBytes = head.length - split - 4;
        if (hold) {
          clearTimeout(timer);
          socket.pause();
          void hold().finally(() => {
            timer = setTimeout(() => finish('timeout'), timeoutMs);
            socket.resume();
          });
        }
      });
      socket.once('end', () => finish('fin'));
      socket.once('error', (error: NodeJS.ErrnoException) =>
        finish(error.code === 'ECONNRESET' ? 'reset' : error.code === 'ECONNREFUSED' ? 'refused' : 'error'),
      );
    });
  }

  /** A complete, successful exchange. */
  const ok = (exchange: Exchange) =>
    exchange.status === 200 && exchange.end === 'fin' && exchange.bodyBytes === exchange.contentLength;

  beforeAll(async () => {
    const up = await run('local', 'up', '-f', writeClusterFile(root, name, clusterYaml(name)));
    expect(up.code, up.stderr).toBe(0);
    report = await status();
    vip = report.services.find((s) => s.name === 'echo')!.clusterIP!;
    clientNetns = Netns.open(netnsPath(podNetns(name, 'mesh', 'client')));
    await eventually(async () => ok(await get('/', 3_000)), { timeout: 20_000, what: 'the mesh to serve' });
  });

  afterAll(async () => {
    for (const pid of stopped) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    clientNetns?.close();
    const down = await run('local', 'down', '--name', name);
    expect(down.code, down.stderr).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    rmSync(root, { recursive: true, force: true });
  });

  it('a ztunnel killed -9 mid-transfer: a reset, only HBONE on the fabric, closed while down, then restarted', async () => {
    const marker = `fault-${name}-marker`;
    const capture = await tcpdump(nodeNetns(name, 'n1'));
    try {
      const before = systemPid(report, 'node-agent/n1')!;
      let killedAt = 0;
      const attempts: Exchange[] = [];
      let recoveredAt = 0;
      const recover = async () => {
        killedAt = performance.now();
        process.kill(before, 'SIGKILL');
        // From the moment it died: every connection fails until a ztunnel serves the pod again.
        for (let i = 0; i < 600 && recoveredAt === 0; i++) {
          const attempt = await get(`/${marker}-${i}`, 2_000);
          attempts.push(attempt);
          if (ok(attempt)) recoveredAt = performance.now();
          else await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      let recovery: Promise<void> | undefined;
      // 64 MiB, held after the first bytes: far more than every buffer on the path holds.
      const transfer = await get(`/?size=${64 * MiB}&m=${marker}`, 60_000, () => {
        recovery = recover();
        return recovery;
      });
      await recovery;
      expect(transfer.status).toBe(200);
      expect(transfer.end).toBe('reset');
      expect(transfer.bodyBytes).toBeLessThan(transfer.contentLength!);
      expect(recoveredAt, JSON.stringify(attempts.slice(-3))).toBeGreaterThan(0);
      // Before the first success nothing got an answer: no path around the ztunnel.
      expect(attempts.slice(0, -1).filter((a) => a.status !== 0)).toEqual([]);
      const after = systemPid(await status(), 'node-agent/n1');
      expect(after).not.toBe(before);
      console.log(
        `ztunnel n1 killed -9: ${attempts.length - 1} connections refused while down; ` +
          `recovered ${(recoveredAt - killedAt).toFixed(0)} ms after the kill; the transfer ended in a reset ` +
          `after ${(transfer.bodyBytes / MiB).toFixed(1)} of ${(transfer.contentLength! / MiB).toFixed(0)} MiB`,
      );
    } finally {
      await capture.stop();
    }
    const pods = new Set([podIp('client'), podIp('echo')]);
    const podPackets = capture.packets().filter((p) => pods.has(p.src.ip) || pods.has(p.dst.ip));
    expect(podPackets.length).toBeGreaterThan(0);
    expect(podPackets.filter((p) => p.src.port !== 15008 && p.dst.port !== 15008)).toEqual([]);
    expect(capture.text()).not.toContain(marker);
  });

  it('the control plane stopped, then killed: no failed request meanwhile, and a policy applied after holds', async () => {
    const before = systemPid(await status(), 'control-plane')!;
    const loop = healthyLoop(async () => {
      const exchange = await get('/', 5_000);
      if (!ok(exchange)) throw new Error(`${exchange.status} ${exchange.end}`);
    }, 5_000);
    const served = (count: number) =>
      eventually(() => loop.result.ok + loop.result.failed >= count, {
        timeout: 30_000,
        what: `${count} requests`,
      });
    await served(20);
    process.kill(before, 'SIGSTOP');
    stopped.push(before);
    await served(loop.result.ok + 50);
    process.kill(before, 'SIGKILL');
    await eventually(
      async () => {
        const pid = systemPid(await status(), 'control-plane');
        return pid !== undefined && pid !== before;
      },
      { timeout: 30_000, what: 'the supervisor to restart the control plane' },
    );
    await served(loop.result.ok + 50);
    const result = await loop.stop();
    expect(result.failed, result.firstError).toBe(0);
    console.log(
      `control plane stopped, killed and restarted: ${result.ok} requests, ${result.failed} failed`,
    );

    const deny = manifests(
      authorizationPolicyDoc('deny-client', {
        namespace: 'mesh',
        app: 'echo',
        action: 'DENY',
        principals: ['cluster.local/ns/mesh/sa/client'],
      }),
    );
    const file = writeClusterFile(root, 'deny', deny);
    // The restarted control plane answers once it has loaded its state.
    await eventually(async () => (await run('apply', '-f', file, '--name', name)).code === 0, {
      timeout: 30_000,
      what: 'the restarted control plane to take the DENY',
    });
    await eventually(async () => (await get('/', 5_000)).status === 0, {
      timeout: 15_000,
      what: 'the DENY applied after the restart to be enforced',
    });
  });
});

interface Packet {
  src: { ip: string; port: number };
  dst: { ip: string; port: number };
}

/** Every TCP packet on a node's underlay interface, headers and payload as text, until `stop`. */
async function tcpdump(netns: string) {
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', netns, 'tcpdump', '-i', 'eth0', '-nn', '-l', '-A', 'tcp'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`tcpdump exited with ${code}`)));
  });
  const endpoint = (text: string) => {
    const at = text.lastIndexOf('.');
    return { ip: text.slice(0, at), port: Number(text.slice(at + 1)) };
  };
  return {
    text: () => text,
    packets: (): Packet[] =>
      [...text.matchAll(/ IP (\d+\.\d+\.\d+\.\d+\.\d+) > (\d+\.\d+\.\d+\.\d+\.\d+):/g)].map((m) => ({
        src: endpoint(m[1]!),
        dst: endpoint(m[2]!),
      })),
    stop: async () => {
      // Let the last packets reach the pipe before it goes.
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

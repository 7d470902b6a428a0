/**
 * Goodput of well-behaved clients while a hostile peer attacks a ztunnel's HBONE port, as a ratio to the
 * goodput without the attack, measured in the same run (issue 8). Two in-process ztunnels on loopback
 * (test/support/two-node-mesh.ts, default limits); the healthy client makes echo requests through the mesh
 * back to back; the attacker is a separate process (bench/support/attack-peer.ts) so that its CPU is not
 * counted as the ztunnels'. Per phase: requests/s, the ratio to the baseline, failures, p99 latency, CPU ms of
 * this process (ztunnels + client) per request, user and system (kernel) apart, and the process's descriptors,
 * RSS and live JS heap at the end. The last phase is a second baseline: what an attack leaves behind (kernel
 * state too: a flood's TIME_WAIT sockets made every port-0 bind scan them) shows as its ratio and system CPU.
 *
 *   node bench/attack.ts [--seconds 5] [--concurrency 200]
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ZTUNNEL_PORTS } from '../src/core/ports.ts';
import { healthyLoop, openFds, percentile } from '../test/support/attack-kit.ts';
import { APP_PORT, startTwoNodeMesh } from '../test/support/two-node-mesh.ts';
import { exchange } from '../test/support/ztunnel-harness.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '200' } },
});
const seconds = Number(values.seconds);
const ATTACKS = ['none', 'garbage', 'truncated-tls', 'no-cert', 'silent', 'none'] as const;

const mesh = await startTwoNodeMesh();
const target = { host: mesh.ip(21), port: ZTUNNEL_PORTS.hbone };
const request = async () => {
  const socket = mesh.h.capture.connect(mesh.ip(11), { ip: mesh.ip(21), port: APP_PORT });
  const { received } = await exchange(socket, 'ping');
  if (received.toString() !== 'ping') throw new Error('bad echo');
};

interface Phase {
  attack: string;
  perSecond: number;
  failed: number;
  p99Ms: number;
  userMsPerRequest: number;
  sysMsPerRequest: number;
  fds: number;
  rssMiB: number;
  heapMiB: number;
}

async function phase(attack: (typeof ATTACKS)[number]): Promise<Phase> {
  const peer =
    attack === 'none'
      ? undefined
      : spawn(
          process.execPath,
          ['bench/support/attack-peer.ts', attack, target.host, String(target.port), values.concurrency!],
          {
            stdio: 'ignore',
          },
        );
  await sleep(500); // the attack is under way before the measurement starts
  const cpu = process.cpuUsage();
  const started = performance.now();
  const loop = healthyLoop(request, 200_000);
  await sleep(seconds * 1000);
  const result = await loop.stop();
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const fds = openFds();
  peer?.kill('SIGKILL');
  await sleep(1500); // the ztunnel lets go of what the attacker held before the next phase
  return {
    attack,
    perSecond: result.ok / elapsed,
    failed: result.failed,
    p99Ms: percentile(result.latencies, 99),
    userMsPerRequest: used.user / 1000 / Math.max(1, result.ok),
    sysMsPerRequest: used.system / 1000 / Math.max(1, result.ok),
    fds,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

const phases: Phase[] = [];
for (const attack of ATTACKS) phases.push(await phase(attack));
await mesh.close();

// The machine is shared: the baseline is measured first and last, and the ratio is to their mean.
const baselines = phases.filter((p) => p.attack === 'none');
const baseline = baselines.reduce((sum, p) => sum + p.perSecond, 0) / baselines.length;
console.log(
  `\nhealthy echo requests through two ztunnels, ${seconds} s per phase, attacker concurrency ${values.concurrency}`,
);
console.log('attack          req/s  ratio  failed  p99 ms  user ms/req  sys ms/req  fds  RSS MiB  heap MiB');
for (const p of phases) {
  console.log(
    `${p.attack.padEnd(14)} ${p.perSecond.toFixed(0).padStart(6)}  ${(p.perSecond / baseline).toFixed(2).padStart(5)}  ${String(p.failed).padStart(6)}  ${p.p99Ms.toFixed(1).padStart(6)}  ${p.userMsPerRequest.toFixed(2).padStart(11)}  ${p.sysMsPerRequest.toFixed(2).padStart(10)}  ${String(p.fds).padStart(3)}  ${p.rssMiB.toFixed(0).padStart(7)}  ${p.heapMiB.toFixed(0).padStart(8)}`,
  );
}

/**
 * The ingress gateway's HTTP benchmark on loopback, in one run: a client on the "host" (this process's
 * namespace, as `curl http://127.0.0.1:8080/` through a port mapping would be) sends HTTP/1.1 keep-alive
 * requests with 1 KiB bodies and 1 KiB answers, closed loop over 1 and 32 connections, on three paths to the
 * same app pod, each proxy its own process on an address of a loopback /24 unique to the run:
 *
 *   (a) no gateway:          client -> app (plaintext, the floor)
 *   (b) Ambit ingress:       client -> ingress gateway (HTTPRoute table, request engine) -> HBONE mTLS ->
 *                            the app's ztunnel -> app
 *   (c) haproxy as ingress:  client -> haproxy (one thread) -> its pod's ztunnel (captured) -> HBONE mTLS
 *                            -> the app's ztunnel -> app
 *
 *   (b0) with `--baseline-ref <git ref>`: the same gateway as that commit's tree has it, its own process on
 *        its own address, measured in the same run as (b) (old against new).
 *        Then both are loaded at once (one connection each) and their CPU per request compared: the
 *        steadier figure on a shared machine, since whatever else runs weighs on both alike.
 *
 * (b) and (c) are in the same position with mTLS into the mesh: the gateway does its own HBONE, haproxy's
 * pod ztunnel does it for haproxy. Reported: req/s and p50/p99 per path, CPU per 1000 requests of the
 * gateway, of haproxy alone and of haproxy with its ztunnel, RSS, and the gateway's ratios to haproxy (and
 * to its baseline). With `--rounds N` the paths take turns N times and medians are reported.
 *
 * Run: npm run bench:ingress -- [--seconds 5] [--rounds 1] [--baseline-ref main] [--baseline-node-args ...]
 *      (needs haproxy; writes only to a temp dir)
 */
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { WaypointSnapshot } from '../src/core/model/index.ts';
import { ZTUNNEL_PORTS } from '../src/core/ports.ts';
import { WAYPOINT_NODE_FLAGS } from '../src/waypoint/settings.ts';
import { ZTUNNEL_NODE_FLAGS } from '../src/ztunnel/settings.ts';
import { service, snapshot, workload } from '../test/support/mesh-fixtures.ts';
import { cluster, clusterName, forward, route, toCluster } from '../test/support/route-table.ts';
import { TestCa } from '../test/support/test-ca.ts';
import { exportTree, shortCommit } from './support/baseline-tree.ts';
import { startChild, startHaproxy, stopChildren, waitForPort } from './support/children.ts';
import { BODY_BYTES, httpRequestResponse } from './support/http-load.ts';
import { cpuMs, listen, rssMiB, sleep } from './support/load.ts';
import {
  newAgainstOld,
  PAIRED_CONNECTIONS,
  type ProxyRun,
  pairedCpuRatio,
  splitNodeArgs,
  takeTurns,
} from './support/proxy-runs.ts';
import { fmt, ratio } from './support/report.ts';
import type { WaypointSpec } from './support/waypoint-node.ts';
import type { NodeSpec } from './support/ztunnel-node.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    // Node flags for the gateway process (default: what `ambit waypoint run` is started with).
    'gateway-node-args': { type: 'string', default: WAYPOINT_NODE_FLAGS.join(' ') },
    // A commit whose gateway is measured next to this one's, in the same run.
    'baseline-ref': { type: 'string' },
    // Node flags for the baseline gateway (default: the same as the gateway's), e.g. to measure a flag.
    'baseline-node-args': { type: 'string' },
    rounds: { type: 'string', default: '1' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const BASELINE_REF = values['baseline-ref'];
const GATEWAY_NODE_ARGS = splitNodeArgs(values['gateway-node-args'] ?? '');
const BASELINE_NODE_ARGS = splitNodeArgs(values['baseline-node-args'] ?? values['gateway-node-args'] ?? '');

const subnet = `127.${randomInt(100, 250)}.${randomInt(0, 256)}`;
const at = (host: number) => `${subnet}.${host}`;
const APP_PORT = 9001;
const LISTENER_PORT = 8080;
const APP = at(21);
const HAPROXY = at(31);
const GATEWAY = at(41);
const GATEWAY_BASELINE = at(42);
const APP_VIP = at(200);
const dir = mkdtempSync(join(tmpdir(), 'ambit-ingress-bench-'));

const app = workload({ name: 'app', ips: [APP], node: 'node-app' });
const haproxyPod = workload({ name: 'haproxy', ips: [HAPROXY], node: 'node-haproxy' });
const gatewayPod = workload({
  name: 'gateway-0',
  ips: [GATEWAY],
  node: 'node-gateway',
  serviceAccount: 'gateway',
  enrolled: false,
});
const appService = service({
  name: 'app',
  vips: [APP_VIP],
  ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
  endpoints: [{ workloadUid: app.uid, ip: APP, ready: true }],
});
const baselinePod = workload({
  name: 'gateway-baseline-0',
  ips: [GATEWAY_BASELINE],
  node: 'node-gateway-baseline',
  serviceAccount: 'gateway',
  enrolled: false,
});
const mesh = snapshot({ workloads: [app, haproxyPod, gatewayPod, baselinePod], services: [appService] });

function startZtunnel(ca: TestCa, node: string, pod: { uid: string }, podIp: string): Promise<ChildProcess> {
  const spec: NodeSpec = {
    node,
    podUid: pod.uid,
    podIp,
    snapshot: mesh,
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    target: { ip: APP_VIP, port: 80 },
  };
  const script = new URL('./support/ztunnel-node.ts', import.meta.url).pathname;
  return startChild(process.execPath, [...ZTUNNEL_NODE_FLAGS, script, JSON.stringify(spec)], 'ready');
}

/**
 * The gateway as the control plane compiles an HTTP listener with one HTTPRoute to the app, on `ip`, run by
 * the waypoint script of `tree` (this checkout's, or a baseline commit's).
 */
function startGateway(ca: TestCa, ip: string, tree: URL, flags: string[]): Promise<ChildProcess> {
  const table: WaypointSnapshot = {
    version: '1',
    waypoint: { name: 'gateway', namespace: 'default' },
    workloads: mesh.workloads,
    services: mesh.services,
    trustBundle: [],
    servedServices: [
      {
        name: 'gateway',
        namespace: 'default',
        hostname: 'gateway.default.svc.cluster.local',
        vips: [],
        ports: [
          {
            port: LISTENER_PORT,
            protocol: 'http',
            routes: [route(forward(toCluster(clusterName(appService, 80))))],
          },
        ],
      },
    ],
    clusters: [cluster(appService, 80, [{ workloadUid: app.uid, ip: APP, port: APP_PORT, ready: true }])],
    authorization: [],
    listeners: [{ name: 'http', port: LISTENER_PORT, wire: 'http', tls: { mode: 'none' } }],
  };
  const spec: WaypointSpec = {
    ip,
    identity: gatewayPod.identity,
    snapshot: table,
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
  };
  const script = new URL('bench/support/waypoint-node.ts', tree).pathname;
  return startChild(process.execPath, [...flags, script, JSON.stringify(spec)], 'ready');
}

/** `cpuPer1000` sums the CPU of every process named; `rssAfter` is the first one's. */
async function measure(
  name: string,
  host: string,
  port: number,
  processes: ChildProcess[],
): Promise<ProxyRun> {
  const pids = processes.flatMap((child) => (child.pid ? [child.pid] : []));
  const rr1 = await httpRequestResponse(host, port, 1, SECONDS, 'bookinfo.example');
  const before = pids.map(cpuMs);
  const rr32 = await httpRequestResponse(host, port, 32, SECONDS, 'bookinfo.example');
  const cpu = pids.reduce((sum, pid, i) => sum + cpuMs(pid) - before[i]!, 0);
  return {
    name,
    rr1,
    rr32,
    cpuPer1000: pids.length === 0 ? undefined : (cpu / (rr32.requests * (1 + 0.8 / SECONDS))) * 1000,
    rssAfter: pids.length === 0 ? undefined : rssMiB(pids[0]!),
  };
}

async function main(): Promise<void> {
  const ca = new TestCa('bench');
  const RESPONSE = Buffer.alloc(BODY_BYTES, 0x72);
  const appServer = createServer((request, response) => {
    request.on('data', () => {});
    request.on('end', () =>
      response
        .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY_BYTES })
        .end(RESPONSE),
    );
  });
  await listen(appServer, APP, APP_PORT);
  await startZtunnel(ca, 'node-app', app, APP);
  const haproxyZtunnel = await startZtunnel(ca, 'node-haproxy', haproxyPod, HAPROXY);
  const gateway = await startGateway(ca, GATEWAY, new URL('..', import.meta.url), GATEWAY_NODE_ARGS);
  await waitForPort(GATEWAY, LISTENER_PORT);
  const old =
    BASELINE_REF === undefined
      ? undefined
      : {
          commit: shortCommit(BASELINE_REF),
          gateway: await startGateway(
            ca,
            GATEWAY_BASELINE,
            new URL(`file://${exportTree(BASELINE_REF, join(dir, 'baseline'))}/`),
            BASELINE_NODE_ARGS,
          ),
        };
  if (old) await waitForPort(GATEWAY_BASELINE, LISTENER_PORT);
  const haproxy = await startHaproxy(dir, HAPROXY, LISTENER_PORT, ZTUNNEL_PORTS.outbound);
  await sleep(500);

  const [direct, ambit, baseline, haproxyAndZtunnel, before] = (await takeTurns(ROUNDS, [
    () => measure('(a) no gateway (client -> app)', APP, APP_PORT, []),
    () => measure('(b) Ambit ingress gateway', GATEWAY, LISTENER_PORT, [gateway]),
    () => measure('(c) haproxy + its ztunnel', HAPROXY, LISTENER_PORT, [haproxy]),
    () =>
      measure('(c) again, CPU of haproxy and its ztunnel', HAPROXY, LISTENER_PORT, [haproxy, haproxyZtunnel]),
    ...(old
      ? [() => measure(`(b0) the gateway at ${old.commit}`, GATEWAY_BASELINE, LISTENER_PORT, [old.gateway])]
      : []),
  ])) as [ProxyRun, ProxyRun, ProxyRun, ProxyRun, ProxyRun | undefined];
  const runs = [direct, ambit, ...(before ? [before] : []), baseline, haproxyAndZtunnel];
  // Old and new loaded at the same time, one connection each (see PAIRED_CONNECTIONS).
  const paired =
    old === undefined
      ? undefined
      : await pairedCpuRatio(
          ROUNDS,
          {
            load: () =>
              httpRequestResponse(GATEWAY, LISTENER_PORT, PAIRED_CONNECTIONS, SECONDS, 'bookinfo.example'),
            pid: gateway.pid!,
          },
          {
            load: () =>
              httpRequestResponse(
                GATEWAY_BASELINE,
                LISTENER_PORT,
                PAIRED_CONNECTIONS,
                SECONDS,
                'bookinfo.example',
              ),
            pid: old.gateway.pid!,
          },
        );
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const header = [
    'path',
    'rr 1 conn req/s',
    'rr 1 conn p50/p99 us',
    'rr 32 conn req/s',
    'rr 32 conn p50/p99 us',
    'proxy CPU ms / 1000 req',
    'proxy RSS MiB',
    'non-200',
  ];
  const out = [
    `HTTP/1.1 keep-alive from the host, ${BODY_BYTES} B request and response bodies, ${SECONDS} s per run, loopback, ${ROUNDS} round(s) (medians)`,
    '',
    line(header),
    line(header.map(() => '---')),
    ...runs.map((r) =>
      line([
        r.name,
        fmt(r.rr1.perSecond),
        `${fmt(r.rr1.p50Us)}/${fmt(r.rr1.p99Us)}`,
        fmt(r.rr32.perSecond),
        `${fmt(r.rr32.p50Us)}/${fmt(r.rr32.p99Us)}`,
        r.cpuPer1000 === undefined ? '-' : fmt(r.cpuPer1000),
        r.rssAfter === undefined ? '-' : fmt(r.rssAfter),
        String(r.rr1.failed + r.rr32.failed),
      ]),
    ),
    '',
    `gateway / haproxy: rr1 req/s ${ratio(ambit.rr1.perSecond, baseline.rr1.perSecond)}, rr32 req/s ${ratio(ambit.rr32.perSecond, baseline.rr32.perSecond)}, rr1 p99 ${ratio(ambit.rr1.p99Us, baseline.rr1.p99Us)}, rr32 p99 ${ratio(ambit.rr32.p99Us, baseline.rr32.p99Us)}`,
    `CPU per request: gateway / haproxy ${ratio(ambit.cpuPer1000 ?? 0, baseline.cpuPer1000 ?? 0)}, gateway / (haproxy + its ztunnel) ${ratio(ambit.cpuPer1000 ?? 0, haproxyAndZtunnel.cpuPer1000 ?? 0)}`,
    `gateway / no gateway: rr32 req/s ${ratio(ambit.rr32.perSecond, direct.rr32.perSecond)}`,
    ...(before ? [newAgainstOld('gateway', ambit, before, baseline)] : []),
    ...(paired === undefined
      ? []
      : [
          `gateway now / before, both loaded at once (${PAIRED_CONNECTIONS} connection each): CPU per request ${fmt(paired, 2)}x`,
        ]),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  appServer.close();
}

try {
  await main();
} finally {
  await stopChildren();
  rmSync(dir, { recursive: true, force: true });
}

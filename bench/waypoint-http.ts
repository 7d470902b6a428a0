/**
 * The waypoint's HTTP benchmark on loopback, in one run, with every proxy its own process and every pod an
 * address of a loopback /24 unique to the run. HTTP/1.1 keep-alive requests with 1 KiB bodies and 1 KiB
 * answers, closed loop over 1 and 32 connections, on three paths from the same kind of client pod:
 *
 *   (a) ztunnel only:       client ztunnel -> HBONE -> server ztunnel -> app
 *   (b) Ambit waypoint:     client ztunnel -> HBONE -> waypoint -> HBONE -> server ztunnel -> app
 *   (c) haproxy as the hop: client ztunnel -> HBONE -> ztunnel of haproxy's pod -> haproxy -> that pod's
 *                           ztunnel -> HBONE -> server ztunnel -> app
 *
 *   (b') the same waypoint, resilience on: a second Service whose route has Istio's default retries (so
 *        each 1 KiB body is buffered for replay) and whose cluster has outlier detection (every answer
 *        counted); the cost of those stages is (b') against (b), same process, same run.
 *   (b'') a second waypoint process, the same route table, tracing every request (100% sampling) with
 *        spans exported over OTLP/HTTP to the trace collector's receiver in this process: the cost of tracing
 *        is (b'') against (b), same run.
 *   (b''') the same waypoint, request policies on: another Service with a RequestAuthentication (every
 *        request carries an ES256 JWT, verified), an ALLOW policy on its `requestPrincipals` and a rate
 *        limit (total and per identity, high enough never to refuse); (b''') against (b).
 *
 *   (b0) with `--baseline-ref <git ref>`: the waypoint of that commit's tree, its own process serving a
 *        Service of its own with the same route as (b), measured in the same run (old against new).
 *        Then both are loaded at once (one connection each) and their CPU per request compared: the
 *        steadier figure on a shared machine, since whatever else runs weighs on both alike.
 *
 * (b) and (c) put an L7 proxy in the same pod position, with mTLS on both of its sides (the waypoint does
 * its own HBONE; haproxy's pod ztunnel does it for haproxy, whose CPU is not counted to haproxy). haproxy
 * runs with one thread, as the waypoint is one Node.js thread. Reported: req/s and p50/p99 per path, the
 * latency each L7 hop adds over (a), the L7 proxy's CPU per 1000 req/s, its RSS idle and after load, and
 * the waypoint's ratios to haproxy (and to its baseline). With `--rounds N`, (a), (b), (b0) and (c) take
 * turns N times and their medians are reported.
 *
 * Run: npm run bench:waypoint -- [--seconds 5] [--rounds 1] [--baseline-ref main] [--baseline-node-args ...]
 *      (needs haproxy; writes only to a temp dir)
 */
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { defaultRetry } from '../src/control/model/l7/route-parts.ts';
import type { WaypointSnapshot } from '../src/core/model/index.ts';
import { OtlpReceiver } from '../src/core/observe/otlp-receiver.ts';
import { ZTUNNEL_PORTS } from '../src/core/ports.ts';
import { WAYPOINT_NODE_FLAGS } from '../src/waypoint/settings.ts';
import { ZTUNNEL_NODE_FLAGS } from '../src/ztunnel/settings.ts';
import { service, snapshot, workload } from '../test/support/mesh-fixtures.ts';
import {
  cluster,
  clusterName,
  forward,
  l7Policy,
  l7Rule,
  l7Source,
  route,
  served,
  toCluster,
} from '../test/support/route-table.ts';
import { TestCa } from '../test/support/test-ca.ts';
import { exportTree, shortCommit } from './support/baseline-tree.ts';
import { startChild, startHaproxy, stopChildren } from './support/children.ts';
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
    // Node flags for the waypoint process (default: what `ambit waypoint run` should be started with).
    'waypoint-node-args': { type: 'string', default: WAYPOINT_NODE_FLAGS.join(' ') },
    // A commit whose waypoint is measured next to this one's, in the same run.
    'baseline-ref': { type: 'string' },
    // Node flags for the baseline waypoint (default: the same as the waypoint's), e.g. to measure a flag.
    'baseline-node-args': { type: 'string' },
    rounds: { type: 'string', default: '1' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const BASELINE_REF = values['baseline-ref'];
const WAYPOINT_NODE_ARGS = splitNodeArgs(values['waypoint-node-args'] ?? '');
const BASELINE_NODE_ARGS = splitNodeArgs(values['baseline-node-args'] ?? values['waypoint-node-args'] ?? '');

const subnet = `127.${randomInt(100, 250)}.${randomInt(0, 256)}`;
const at = (host: number) => `${subnet}.${host}`;
const APP_PORT = 9001;
const HAPROXY_PORT = 80;
const dir = mkdtempSync(join(tmpdir(), 'ambit-wp-bench-'));

// The pods: six client pods (one per path), the app, haproxy's pod, the two waypoints.
const clients = {
  direct: at(11),
  waypoint: at(12),
  haproxy: at(13),
  resilient: at(14),
  traced: at(15),
  policies: at(16),
  baseline: at(17),
};
// Two app pods, the same server: the waypoint's (its destination refuses traffic that bypasses the waypoint)
// and the one the other paths reach.
const APP = at(21);
const APP_DIRECT = at(22);
const HAPROXY = at(31);
const WAYPOINT = at(41);
const WAYPOINT_TRACED = at(42);
const WAYPOINT_BASELINE = at(43);
const COLLECTOR = at(51);
const COLLECTOR_PORT = 4318;
const VIPS = {
  direct: at(200),
  waypoint: at(201),
  haproxy: at(202),
  resilient: at(203),
  traced: at(204),
  policies: at(205),
  baseline: at(206),
};
const ISSUER = 'https://issuer.bench';
const waypointRef = { name: 'waypoint', namespace: 'default' };
const tracedWaypointRef = { name: 'waypoint-traced', namespace: 'default' };
const baselineWaypointRef = { name: 'waypoint-baseline', namespace: 'default' };

const clientWorkloads = Object.entries(clients).map(([path, ip]) =>
  workload({ name: `client-${path}`, ips: [ip], node: `node-${path}` }),
);
const app = workload({ name: 'app', ips: [APP], node: 'node-app' });
const appPlain = workload({ name: 'app-plain', ips: [APP_DIRECT], node: 'node-app-plain' });
const haproxyPod = workload({ name: 'haproxy', ips: [HAPROXY], node: 'node-haproxy' });
const waypointPod = workload({
  name: 'waypoint',
  ips: [WAYPOINT],
  node: 'node-w',
  serviceAccount: 'waypoint',
  enrolled: false,
});
const tracedWaypointPod = workload({
  name: 'waypoint-traced',
  ips: [WAYPOINT_TRACED],
  node: 'node-wt',
  serviceAccount: 'waypoint-traced',
  enrolled: false,
});
const baselineWaypointPod = workload({
  name: 'waypoint-baseline',
  ips: [WAYPOINT_BASELINE],
  node: 'node-wb',
  serviceAccount: 'waypoint-baseline',
  enrolled: false,
});
const appEndpoint = [{ workloadUid: app.uid, ip: APP, ready: true }];
const appDirect = service({
  name: 'app',
  vips: [VIPS.direct],
  ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
  endpoints: [{ workloadUid: appPlain.uid, ip: APP_DIRECT, ready: true }],
});
const appBound = service({
  name: 'app-l7',
  vips: [VIPS.waypoint],
  ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
  endpoints: appEndpoint,
  waypoint: waypointRef,
});
const appResilient = service({
  name: 'app-l7r',
  vips: [VIPS.resilient],
  ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
  endpoints: appEndpoint,
  waypoint: waypointRef,
});
const appPolicies = service({
  name: 'app-l7p',
  vips: [VIPS.policies],
  ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
  endpoints: appEndpoint,
  waypoint: waypointRef,
});
const appTraced = service({
  name: 'app-l7t',
  vips: [VIPS.traced],
  ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
  endpoints: appEndpoint,
  waypoint: tracedWaypointRef,
});
const appBaseline = service({
  name: 'app-l7b',
  vips: [VIPS.baseline],
  ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
  endpoints: appEndpoint,
  waypoint: baselineWaypointRef,
});
const haproxyService = service({
  name: 'haproxy',
  vips: [VIPS.haproxy],
  ports: [{ port: 80, targetPort: HAPROXY_PORT, protocol: 'TCP' }],
  endpoints: [{ workloadUid: haproxyPod.uid, ip: HAPROXY, ready: true }],
});
const waypointService = service({
  name: 'waypoint',
  vips: [at(210)],
  ports: [{ port: 15008, targetPort: 15008, protocol: 'TCP' }],
  endpoints: [{ workloadUid: waypointPod.uid, ip: WAYPOINT, ready: true }],
});
const tracedWaypointService = service({
  name: 'waypoint-traced',
  vips: [at(211)],
  ports: [{ port: 15008, targetPort: 15008, protocol: 'TCP' }],
  endpoints: [{ workloadUid: tracedWaypointPod.uid, ip: WAYPOINT_TRACED, ready: true }],
});
const baselineWaypointService = service({
  name: 'waypoint-baseline',
  vips: [at(212)],
  ports: [{ port: 15008, targetPort: 15008, protocol: 'TCP' }],
  endpoints: [{ workloadUid: baselineWaypointPod.uid, ip: WAYPOINT_BASELINE, ready: true }],
});
const mesh = snapshot({
  workloads: [
    ...clientWorkloads,
    app,
    appPlain,
    haproxyPod,
    waypointPod,
    tracedWaypointPod,
    baselineWaypointPod,
  ],
  services: [
    appDirect,
    appBound,
    appResilient,
    appTraced,
    appPolicies,
    haproxyService,
    waypointService,
    tracedWaypointService,
    appBaseline,
    baselineWaypointService,
  ],
});

async function startZtunnel(
  ca: TestCa,
  node: string,
  pod: { uid: string },
  podIp: string,
  target: { ip: string; port: number },
) {
  const spec: NodeSpec = {
    node,
    podUid: pod.uid,
    podIp,
    snapshot: mesh,
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    target,
  };
  const script = new URL('./support/ztunnel-node.ts', import.meta.url).pathname;
  return startChild(process.execPath, [...ZTUNNEL_NODE_FLAGS, script, JSON.stringify(spec)], 'ready');
}

async function startWaypoint(ca: TestCa, jwks: string): Promise<ChildProcess> {
  // High enough never to refuse: the cost measured is the bucket arithmetic, not refusals.
  const never = 2 ** 31 - 1;
  const table: WaypointSnapshot = {
    version: '1',
    waypoint: waypointRef,
    workloads: mesh.workloads,
    services: mesh.services,
    trustBundle: [],
    servedServices: [
      served(appBound, [
        { port: 80, protocol: 'http', routes: [route(forward(toCluster(clusterName(appBound, 80))))] },
      ]),
      served(appResilient, [
        {
          port: 80,
          protocol: 'http',
          routes: [route(forward(toCluster(clusterName(appResilient, 80))), { retry: defaultRetry() })],
        },
      ]),
      {
        ...served(appPolicies, [
          { port: 80, protocol: 'http', routes: [route(forward(toCluster(clusterName(appPolicies, 80))))] },
        ]),
        requestAuthentication: [
          {
            issuer: ISSUER,
            audiences: [],
            jwks,
            fromHeaders: [],
            fromParams: [],
            fromCookies: [],
            outputClaimToHeaders: [],
            forwardOriginalToken: false,
          },
        ],
        rateLimit: {
          policy: 'default/bench',
          totalPerSecond: never,
          identityPerSecond: never,
          overrides: [],
        },
      },
    ],
    clusters: [
      cluster(appBound, 80, [{ workloadUid: app.uid, ip: APP, port: APP_PORT, ready: true }]),
      cluster(appResilient, 80, [{ workloadUid: app.uid, ip: APP, port: APP_PORT, ready: true }], {
        policy: { loadBalancer: { kind: 'LEAST_REQUEST' }, outlierDetection: { consecutive5xxErrors: 5 } },
      }),
      cluster(appPolicies, 80, [{ workloadUid: app.uid, ip: APP, port: APP_PORT, ready: true }]),
    ],
    authorization: [
      l7Policy({
        name: 'bench-jwt',
        action: 'ALLOW',
        appliesTo: { kind: 'services', hostnames: [appPolicies.hostname] },
        rules: [
          l7Rule({ from: [l7Source({ requestPrincipals: [{ kind: 'prefix', value: `${ISSUER}/` }] })] }),
        ],
      }),
    ],
  };
  const spec: WaypointSpec = {
    ip: WAYPOINT,
    identity: waypointPod.identity,
    snapshot: table,
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
  };
  return startWaypointProcess(spec);
}

/** Starts the waypoint script of `tree` (this checkout's, or a baseline commit's). */
function startWaypointProcess(
  spec: WaypointSpec,
  tree = new URL('..', import.meta.url),
  flags = WAYPOINT_NODE_ARGS,
): Promise<ChildProcess> {
  const script = new URL('bench/support/waypoint-node.ts', tree).pathname;
  return startChild(process.execPath, [...flags, script, JSON.stringify(spec)], 'ready');
}

/** A waypoint serving one Service's plain route (as (b) has it), with the telemetry given. */
function plainTable(
  ref: { name: string; namespace: string },
  bound: ReturnType<typeof service>,
  telemetry?: WaypointSnapshot['telemetry'],
): WaypointSnapshot {
  return {
    version: '1',
    waypoint: ref,
    workloads: mesh.workloads,
    services: mesh.services,
    trustBundle: [],
    servedServices: [
      served(bound, [
        { port: 80, protocol: 'http', routes: [route(forward(toCluster(clusterName(bound, 80))))] },
      ]),
    ],
    clusters: [cluster(bound, 80, [{ workloadUid: app.uid, ip: APP, port: APP_PORT, ready: true }])],
    authorization: [],
    ...(telemetry && { telemetry }),
  };
}

/** The baseline waypoint: app-l7b's plain route, run from the tree of an earlier commit. */
function startBaselineWaypoint(ca: TestCa, tree: URL): Promise<ChildProcess> {
  return startWaypointProcess(
    {
      ip: WAYPOINT_BASELINE,
      identity: baselineWaypointPod.identity,
      snapshot: plainTable(baselineWaypointRef, appBaseline),
      ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    },
    tree,
    BASELINE_NODE_ARGS,
  );
}

/** The traced waypoint: app-l7t's plain route, every request traced, spans to the bench's receiver. */
async function startTracedWaypoint(ca: TestCa): Promise<ChildProcess> {
  const table = plainTable(tracedWaypointRef, appTraced, {
    tracing: {
      provider: 'otel',
      endpoint: `http://${COLLECTOR}:${COLLECTOR_PORT}/v1/traces`,
      samplingPercentage: 100,
      customTags: {},
    },
    accessLogs: [],
    disabledMetrics: [],
  });
  return startWaypointProcess({
    ip: WAYPOINT_TRACED,
    identity: tracedWaypointPod.identity,
    snapshot: table,
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
  });
}

/** The collector: spans received are counted (stored ones and the ones the bounded store let go). */
async function startCollector(): Promise<{ spans: () => number; close: () => void }> {
  const receiver = new OtlpReceiver();
  await listen(receiver.server, COLLECTOR, COLLECTOR_PORT);
  return {
    spans: () => receiver.store.spans.length + receiver.store.evicted,
    close: () => receiver.server.close(),
  };
}

async function measure(
  name: string,
  clientIp: string,
  proxy: ChildProcess | undefined,
  authority = 'app-l7.default.svc.cluster.local',
  extraHeaders = '',
): Promise<ProxyRun> {
  const rssIdle = proxy?.pid ? rssMiB(proxy.pid) : undefined;
  const rr1 = await httpRequestResponse(
    clientIp,
    ZTUNNEL_PORTS.outbound,
    1,
    SECONDS,
    authority,
    extraHeaders,
  );
  const cpuBefore = proxy?.pid ? cpuMs(proxy.pid) : 0;
  const rr32 = await httpRequestResponse(
    clientIp,
    ZTUNNEL_PORTS.outbound,
    32,
    SECONDS,
    authority,
    extraHeaders,
  );
  const cpu = proxy?.pid ? cpuMs(proxy.pid) - cpuBefore : undefined;
  return {
    name,
    rr1,
    rr32,
    // The CPU spent during the 32-connection run, which also includes its warm-up and cool-down.
    cpuPer1000: cpu === undefined ? undefined : (cpu / (rr32.requests * (1 + 0.8 / SECONDS))) * 1000,
    rssIdle,
    rssAfter: proxy?.pid ? rssMiB(proxy.pid) : undefined,
  };
}

function failures(run: ProxyRun): string {
  const failed = run.rr1.failed + run.rr32.failed;
  return failed === 0 ? '0' : `${failed} (${run.rr1.firstFailure ?? run.rr32.firstFailure})`;
}

async function main(): Promise<void> {
  const ca = new TestCa('bench');
  const appServer = createServer((request, response) => {
    request.on('data', () => {});
    request.on('end', () =>
      response
        .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY_BYTES })
        .end(RESPONSE),
    );
  });
  const RESPONSE = Buffer.alloc(BODY_BYTES, 0x72);
  await listen(appServer, APP, APP_PORT);
  const appPlainServer = createServer(
    appServer.listeners('request')[0] as Parameters<typeof createServer>[1],
  );
  await listen(appPlainServer, APP_DIRECT, APP_PORT);
  await startZtunnel(ca, 'node-app', app, APP, { ip: VIPS.direct, port: 80 });
  await startZtunnel(ca, 'node-app-plain', appPlain, APP_DIRECT, { ip: VIPS.direct, port: 80 });
  await startZtunnel(ca, 'node-direct', clientWorkloads[0]!, clients.direct, { ip: VIPS.direct, port: 80 });
  await startZtunnel(ca, 'node-waypoint', clientWorkloads[1]!, clients.waypoint, {
    ip: VIPS.waypoint,
    port: 80,
  });
  await startZtunnel(ca, 'node-haproxy-client', clientWorkloads[2]!, clients.haproxy, {
    ip: VIPS.haproxy,
    port: 80,
  });
  await startZtunnel(ca, 'node-resilient', clientWorkloads[3]!, clients.resilient, {
    ip: VIPS.resilient,
    port: 80,
  });
  await startZtunnel(ca, 'node-policies', clientWorkloads[5]!, clients.policies, {
    ip: VIPS.policies,
    port: 80,
  });
  // haproxy's pod: its ztunnel delivers inbound to haproxy and captures what haproxy sends to the app.
  await startZtunnel(ca, 'node-haproxy', haproxyPod, HAPROXY, { ip: VIPS.direct, port: 80 });
  const keys = await generateKeyPair('ES256');
  const jwks = JSON.stringify({
    keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'bench', alg: 'ES256' }],
  });
  const token = await new SignJWT({ groups: ['bench'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
    .setIssuer(ISSUER)
    .setSubject('load')
    .setExpirationTime('1h')
    .sign(keys.privateKey);
  await startZtunnel(ca, 'node-traced', clientWorkloads[4]!, clients.traced, { ip: VIPS.traced, port: 80 });
  const waypoint = await startWaypoint(ca, jwks);
  const collector = await startCollector();
  const tracedWaypoint = await startTracedWaypoint(ca);
  const haproxy = await startHaproxy(dir, HAPROXY, HAPROXY_PORT, ZTUNNEL_PORTS.outbound);
  const old =
    BASELINE_REF === undefined
      ? undefined
      : {
          commit: shortCommit(BASELINE_REF),
          waypoint: await startBaselineWaypoint(
            ca,
            new URL(`file://${exportTree(BASELINE_REF, join(dir, 'baseline'))}/`),
          ),
          client: await startZtunnel(ca, 'node-baseline', clientWorkloads[6]!, clients.baseline, {
            ip: VIPS.baseline,
            port: 80,
          }),
        };
  await sleep(500);

  const [direct, ambit, baseline, before] = (await takeTurns(ROUNDS, [
    () => measure('(a) ztunnel only', clients.direct, undefined),
    () => measure('(b) ztunnel + Ambit waypoint', clients.waypoint, waypoint),
    () => measure('(c) ztunnel + haproxy', clients.haproxy, haproxy),
    ...(old
      ? [
          () =>
            measure(
              `(b0) the waypoint at ${old.commit}`,
              clients.baseline,
              old.waypoint,
              'app-l7b.default.svc.cluster.local',
            ),
        ]
      : []),
  ])) as [ProxyRun, ProxyRun, ProxyRun, ProxyRun | undefined];
  const [resilient, traced, policies] = [
    await measure(
      "(b') waypoint, retries + outlier detection",
      clients.resilient,
      waypoint,
      'app-l7r.default.svc.cluster.local',
    ),
    await measure(
      "(b'') waypoint, tracing 100%",
      clients.traced,
      tracedWaypoint,
      'app-l7t.default.svc.cluster.local',
    ),
    await measure(
      "(b''') waypoint, JWT + principal ALLOW + rate limit",
      clients.policies,
      waypoint,
      'app-l7p.default.svc.cluster.local',
      `authorization: Bearer ${token}\r\n`,
    ),
  ];
  const runs = [direct, ambit, ...(before ? [before] : []), baseline, resilient, traced, policies];
  // Old and new loaded at the same time, one connection each (see PAIRED_CONNECTIONS).
  const paired =
    old === undefined
      ? undefined
      : await pairedCpuRatio(
          ROUNDS,
          {
            load: () =>
              httpRequestResponse(
                clients.waypoint,
                ZTUNNEL_PORTS.outbound,
                PAIRED_CONNECTIONS,
                SECONDS,
                'app-l7.default.svc.cluster.local',
              ),
            pid: waypoint.pid!,
          },
          {
            load: () =>
              httpRequestResponse(
                clients.baseline,
                ZTUNNEL_PORTS.outbound,
                PAIRED_CONNECTIONS,
                SECONDS,
                'app-l7b.default.svc.cluster.local',
              ),
            pid: old.waypoint.pid!,
          },
        );
  // The last batch leaves within the exporter's delay; the count says the spans were really exported.
  await sleep(1500);
  const tracedRequests = traced.rr1.requests + traced.rr32.requests;
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const header = [
    'path',
    'rr 1 conn req/s',
    'rr 1 conn p50/p99 us',
    'rr 32 conn req/s',
    'rr 32 conn p50/p99 us',
    'L7 proxy CPU ms / 1000 req',
    'L7 proxy RSS idle/after MiB',
    'non-200',
  ];
  const out = [
    `HTTP/1.1 keep-alive, ${BODY_BYTES} B request and response bodies, ${SECONDS} s per run, loopback, proxies in their own processes, ${ROUNDS} round(s) of (a)-(c) (medians)`,
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
        r.rssIdle === undefined ? '-' : `${fmt(r.rssIdle)}/${fmt(r.rssAfter ?? 0)}`,
        failures(r),
      ]),
    ),
    '',
    `added latency over (a), p50 at 1 conn: waypoint ${fmt(ambit.rr1.p50Us - direct.rr1.p50Us)} us, haproxy ${fmt(baseline.rr1.p50Us - direct.rr1.p50Us)} us`,
    `waypoint vCPU per 1000 req/s: ${fmt((ambit.cpuPer1000 ?? 0) / 1000, 3)} (target <= 0.25, aim 0.1); haproxy: ${fmt((baseline.cpuPer1000 ?? 0) / 1000, 3)}`,
    `waypoint / haproxy: rr1 req/s ${ratio(ambit.rr1.perSecond, baseline.rr1.perSecond)}, rr32 req/s ${ratio(ambit.rr32.perSecond, baseline.rr32.perSecond)}, CPU per request ${ratio(ambit.cpuPer1000 ?? 0, baseline.cpuPer1000 ?? 0)}`,
    `waypoint / ztunnel only: rr32 req/s ${ratio(ambit.rr32.perSecond, direct.rr32.perSecond)}`,
    ...(before ? [newAgainstOld('waypoint', ambit, before, baseline)] : []),
    ...(paired === undefined
      ? []
      : [
          `waypoint now / before, both loaded at once (${PAIRED_CONNECTIONS} connection each): CPU per request ${fmt(paired, 2)}x`,
        ]),
    `resilience on / off (b' / b): rr1 req/s ${ratio(resilient.rr1.perSecond, ambit.rr1.perSecond)}, rr32 req/s ${ratio(resilient.rr32.perSecond, ambit.rr32.perSecond)}, CPU per request ${ratio(resilient.cpuPer1000 ?? 0, ambit.cpuPer1000 ?? 0)}`,
    `tracing 100% / off (b'' / b): rr1 req/s ${ratio(traced.rr1.perSecond, ambit.rr1.perSecond)}, rr32 req/s ${ratio(traced.rr32.perSecond, ambit.rr32.perSecond)}, CPU per request ${ratio(traced.cpuPer1000 ?? 0, ambit.cpuPer1000 ?? 0)}; spans received ${collector.spans()} for ${tracedRequests} requests`,
    `request policies on / off (b''' / b): rr1 req/s ${ratio(policies.rr1.perSecond, ambit.rr1.perSecond)}, rr32 req/s ${ratio(policies.rr32.perSecond, ambit.rr32.perSecond)}, CPU per request ${ratio(policies.cpuPer1000 ?? 0, ambit.cpuPer1000 ?? 0)}`,
  ];
  collector.close();
  process.stdout.write(`${out.join('\n')}\n`);
  appServer.close();
  appPlainServer.close();
}

try {
  await main();
} finally {
  await stopChildren();
  rmSync(dir, { recursive: true, force: true });
}

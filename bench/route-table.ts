/**
 * The route table's cost, in CPU time per unit of work (steadier than wall time on a shared machine):
 * compiling one waypoint's table (50 served services, each with a VirtualService of RULES header/path rules
 * and a 90/10 subset split), and selecting a route plus a weighted backend per request when the matching
 * rule is the first, the middle or the last one (plus the default route behind them), as ratios to the
 * first-rule case measured in the same run. Run: node bench/route-table.ts [rules] [requests]
 */
import { compileRouteTable } from '../src/control/model/l7/compile.ts';
import type { DestinationRuleSpec, VirtualServiceSpec } from '../src/core/config/kinds/istio-networking.ts';
import { chooseBackend, findServedTarget, type RequestView, selectRoute } from '../src/core/l7/match.ts';
import type { NamedConfig, Service, Workload } from '../src/core/model/index.ts';

const RULES = Number(process.argv[2] ?? 20);
const REQUESTS = Number(process.argv[3] ?? 200_000);
const SERVICES = 50;

const services: Service[] = Array.from({ length: SERVICES }, (_, i) => ({
  name: `svc-${i}`,
  namespace: 'bench',
  hostname: `svc-${i}.bench.svc.cluster.local`,
  vips: [`10.96.1.${i + 1}`],
  ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' }],
  endpoints: [0, 1].map((j) => ({
    workloadUid: `bench/pod-${i}-${j}`,
    ip: `10.244.${i}.${j + 1}`,
    ready: true,
  })),
  waypoint: { name: 'wp', namespace: 'bench' },
}));
const workloads: Workload[] = services.flatMap((service, i) =>
  [0, 1].map((j) => ({
    uid: `bench/pod-${i}-${j}`,
    name: `pod-${i}-${j}`,
    namespace: 'bench',
    node: 'node-0',
    ips: [`10.244.${i}.${j + 1}`],
    serviceAccount: 'default',
    identity: 'spiffe://cluster.local/ns/bench/sa/default',
    labels: { app: service.name, version: `v${j + 1}` },
    enrolled: true,
    canonicalName: service.name,
    canonicalRevision: `v${j + 1}`,
  })),
);
const none = {
  headers: {},
  withoutHeaders: {},
  queryParams: {},
  sourceLabels: {},
  gateways: [],
  ignoreUriCase: false,
};
const virtualServices: NamedConfig<VirtualServiceSpec>[] = services.map((service) => ({
  name: service.name,
  namespace: 'bench',
  spec: {
    hosts: [service.name],
    gateways: [],
    tls: [],
    tcp: [],
    exportTo: [],
    http: Array.from({ length: RULES }, (_, r) => ({
      match: [{ ...none, uri: { prefix: `/r${r}/` }, headers: { 'x-tenant': { exact: `t${r}` } } }],
      route: [
        { destination: { host: service.name, subset: 'v1' }, weight: 90 },
        { destination: { host: service.name, subset: 'v2' }, weight: 10 },
      ],
      mirrors: [],
    })),
  },
}));
const destinationRules: NamedConfig<DestinationRuleSpec>[] = services.map((service) => ({
  name: service.name,
  namespace: 'bench',
  spec: {
    host: service.name,
    exportTo: [],
    subsets: [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' } },
    ],
  },
}));
const inputs = {
  waypoint: { name: 'wp', namespace: 'bench' },
  served: services,
  services,
  workloads,
  virtualServices,
  destinationRules,
  httpRoutes: [],
  grpcRoutes: [],
  attachedPolicies: [],
  trustDomain: 'cluster.local',
};

function cpuMicros(work: () => void): number {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

// Warm up (JIT, regex compilation), then measure.
compileRouteTable(inputs);
const compiles = 20;
const compileMicros = cpuMicros(() => {
  for (let i = 0; i < compiles; i++) compileRouteTable(inputs);
});
const { table } = compileRouteTable(inputs);

function request(rule: number): RequestView {
  const headers: Record<string, string> = { 'x-tenant': `t${rule}` };
  return {
    authority: 'svc-7:80',
    method: 'GET',
    scheme: 'http',
    path: `/r${rule}/items`,
    header: (name) => headers[name],
    queryParam: () => undefined,
  };
}

let sink = 0;
function perRequest(rule: number): number {
  const view = request(rule);
  const run = (count: number) => {
    for (let i = 0; i < count; i++) {
      const target = findServedTarget(table, '10.96.1.8', 80)!;
      const selection = selectRoute(target.port.routes, view)!;
      const action = selection.route.action;
      if (action.kind === 'forward') sink += chooseBackend(action.backends, (i % 100) / 100)!.weight;
    }
  };
  run(10_000);
  return cpuMicros(() => run(REQUESTS)) / REQUESTS;
}

const first = perRequest(0);
const middle = perRequest(Math.floor(RULES / 2));
const last = perRequest(RULES - 1);
const fallthrough = perRequest(RULES);
const rows: [string, number][] = [
  ['first rule matches', first],
  ['middle rule matches', middle],
  ['last rule matches', last],
  ['no rule: default route', fallthrough],
];
console.log(`route table: ${SERVICES} services x ${RULES} rules, ${table.clusters.length} clusters`);
console.log(`compile: ${(compileMicros / compiles / 1000).toFixed(2)} ms CPU per table`);
console.log('selection + weighted choice, CPU per request (ratio to the first-rule case):');
for (const [name, micros] of rows) {
  console.log(`  ${name.padEnd(24)} ${micros.toFixed(3)} us  x${(micros / first).toFixed(2)}`);
}
if (sink < 0) console.log(sink);

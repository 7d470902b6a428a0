import { describe, expect, it } from 'vitest';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import { parseResources } from '../../src/core/config/resource.ts';
import {
  buildQuery,
  buildResponse,
  DNS_TYPE,
  parseQuery,
  parseResponse,
  RCODE,
} from '../../src/core/dns/codec.ts';
import { LOCAL_KINDS, loadClusterFiles } from '../../src/local/cluster-file.ts';
import { answerClusterQuery } from '../../src/local/dns/answer.ts';
import { buildZone, reverseName } from '../../src/local/dns/zone.ts';
import { KUBE_PROXY_TABLE, kubeProxyScript, kubeProxyTable } from '../../src/local/kube-proxy/rules.ts';
import { planCluster } from '../../src/local/plan.ts';
import { clusterServices, podReady, readyPodUids } from '../../src/local/services/endpoints.ts';
import type { ProcessStatus } from '../../src/local/supervisor/status.ts';
import type { ClusterState } from '../../src/local/types.ts';

const pod = (name: string, node: string, app: string, ports: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: {app: ${app}}}
spec:
  nodeName: ${node}
  containers: [{name: c, command: [sleep, infinity], ports: ${ports}}]`;

const service = (name: string, spec: string) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec:
${spec}`;

const DOCUMENTS = [
  'apiVersion: ambit.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec:\n  nodes: [{name: n1}, {name: n2}]',
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}',
  pod('web-a', 'n1', 'web', '[{name: http, containerPort: 8080}]'),
  pod('web-b', 'n2', 'web', '[{name: http, containerPort: 8081}]'),
  // Selected by `web` but without a port named http: no endpoint for the named targetPort.
  pod('web-c', 'n2', 'web', '[{name: admin, containerPort: 9000}]'),
  pod('db-a', 'n1', 'db', '[{containerPort: 5432}]'),
  service(
    'web',
    '  type: NodePort\n  sessionAffinity: ClientIP\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}, {name: metrics, port: 9090, protocol: UDP}]',
  ),
  service('db', '  clusterIP: None\n  selector: {app: db}\n  ports: [{name: pg, port: 5432}]'),
  service('lb', '  type: LoadBalancer\n  selector: {app: db}\n  ports: [{port: 5432, nodePort: 30000}]'),
];

function plan(documents: readonly string[]): ClusterState {
  const parsed = parseYamlText(documents.join('\n---\n'), 'c.yaml');
  const resources = parseResources(parsed.documents, LOCAL_KINDS);
  expect(resources.issues.map(formatIssue)).toEqual([]);
  const result = planCluster(resources.resources, { stateDirFor: (n) => `/state/${n}`, extensions: [] });
  expect(result.issues.filter((issue) => issue.severity === 'error').map(formatIssue)).toEqual([]);
  return result.state!;
}

const cluster = plan(DOCUMENTS);
const ip = (name: string) => cluster.pods.find((p) => p.name === name)!.ips[0]!;
const uid = (name: string) => `shop/${name}`;
const status = (name: string, state: ProcessStatus['state'], ready: boolean): ProcessStatus => ({
  id: `pod/${uid(name)}`,
  kind: 'pod',
  podUid: uid(name),
  state,
  ready,
  restarts: 0,
});
const allReady = readyPodUids(['web-a', 'web-b', 'web-c', 'db-a'].map((n) => status(n, 'running', true)));
const view = clusterServices(cluster, allReady);
const webIP = cluster.services.find((s) => s.name === 'web')!.clusterIP!;

describe('Service endpoints', () => {
  it.each([
    ['running and ready', 'running', true, true],
    ['running, not listening yet', 'running', false, false],
    ['crashed, waiting to restart', 'backoff', false, false],
    ['ended', 'failed', false, false],
    ['not started', 'waiting', false, false],
  ] as const)('a pod %s is ready: %s', (_what, state, ready, expected) => {
    expect(podReady(status('web-a', state, ready))).toBe(expected);
  });

  it('maps named targetPorts per pod, and leaves out pods without that port name', () => {
    const web = view.services.find((s) => s.name === 'web')!;
    expect(web.ports[0]!.endpoints).toEqual([
      { ip: ip('web-a'), port: 8080, podUid: uid('web-a') },
      { ip: ip('web-b'), port: 8081, podUid: uid('web-b') },
    ]);
    // A numeric targetPort (defaulted to port) applies to every selected pod.
    expect(web.ports[1]!.endpoints.map((e) => [e.ip, e.port])).toEqual([
      [ip('web-a'), 9090],
      [ip('web-b'), 9090],
      [ip('web-c'), 9090],
    ]);
  });

  it('drops pods that are not ready', () => {
    const ready = readyPodUids([status('web-a', 'running', false), status('web-b', 'running', true)]);
    const web = clusterServices(cluster, ready).services.find((s) => s.name === 'web')!;
    expect(web.ports[0]!.endpoints.map((e) => e.podUid)).toEqual([uid('web-b')]);
    expect(web.readyPods.map((p) => p.name)).toEqual(['web-b']);
  });

  it('records what the rules need of a Service: its type, node ports and ClientIP affinity', () => {
    const web = cluster.services.find((s) => s.name === 'web')!;
    expect(web.type).toBe('NodePort');
    expect(web.ports.every((p) => p.nodePort !== undefined)).toBe(true);
    expect(web.sessionAffinity).toEqual({ timeoutSeconds: 10800 });
    expect(cluster.services.find((s) => s.name === 'lb')!.ports[0]!.nodePort).toBe(30000);
    expect(cluster.services.find((s) => s.name === 'db')!.sessionAffinity).toBeUndefined();
  });

  it('keeps not-ready pods as endpoints with publishNotReadyAddresses', () => {
    const published = {
      ...cluster,
      services: cluster.services.map((s) => (s.name === 'db' ? { ...s, publishNotReadyAddresses: true } : s)),
    };
    const db = clusterServices(published, new Set()).services.find((s) => s.name === 'db')!;
    expect(db.readyPods.map((p) => p.name)).toEqual(['db-a']);
    expect(db.ports[0]!.endpoints.map((e) => e.podUid)).toEqual([uid('db-a')]);
  });
});

describe('the README example (examples/network-cluster.yaml)', () => {
  it('plans a NodePort and a headless Service in front of the Deployment', () => {
    const file = new URL('../../examples/network-cluster.yaml', import.meta.url).pathname;
    const { state } = loadClusterFiles([file], { stateDirFor: (n) => `/state/${n}`, extensions: [] });
    expect(state.services.map((s) => [s.name, s.type, s.clusterIP, s.ports.map((p) => p.nodePort)])).toEqual([
      ['web', 'NodePort', '10.96.0.1', [30080]],
      ['web-pods', 'ClusterIP', undefined, [undefined]],
    ]);
    const ready = readyPodUids(
      state.pods.map((pod) => ({ ...status(pod.name, 'running', true), podUid: pod.uid })),
    );
    const zone = buildZone(clusterServices(state, ready));
    expect(zone.names.get('web-pods.shop.svc.cluster.local')?.addresses).toHaveLength(2);
  });
});

describe('the cluster DNS', () => {
  const zone = buildZone(view);
  const ask = (name: string, type: number = DNS_TYPE.A) => {
    const answer = answerClusterQuery(buildQuery(0x4242, name, type), zone);
    if (!answer) throw new Error('no answer');
    return parseResponse(answer.response);
  };
  const targets = (name: string, type: number) => ask(name, type).answers.map((a) => a.address ?? a.target);

  it.each([
    ['web.shop.svc.cluster.local', DNS_TYPE.A, [webIP]],
    ['WEB.Shop.svc.cluster.local.', DNS_TYPE.A, [webIP]],
    ['db.shop.svc.cluster.local', DNS_TYPE.A, [ip('db-a')]],
    [`${ip('db-a').replaceAll('.', '-')}.db.shop.svc.cluster.local`, DNS_TYPE.A, [ip('db-a')]],
    [`${ip('web-a').replaceAll('.', '-')}.shop.pod.cluster.local`, DNS_TYPE.A, [ip('web-a')]],
    [reverseName(webIP), DNS_TYPE.PTR, ['web.shop.svc.cluster.local']],
    [reverseName(ip('web-b')), DNS_TYPE.PTR, [`${ip('web-b').replaceAll('.', '-')}.shop.pod.cluster.local`]],
    ['web.shop.svc.cluster.local', DNS_TYPE.AAAA, []],
    ['web.shop.svc.cluster.local', DNS_TYPE.SRV, []],
  ])('%s type %i: %j', (name, type, expected) => {
    const response = ask(name, type);
    expect(response).toMatchObject({ id: 0x4242, rcode: RCODE.NOERROR, authoritative: true });
    expect(targets(name, type)).toEqual(expected);
    for (const answer of response.answers) expect(answer.ttl).toBe(5);
  });

  it('answers SRV for named ports: the Service for a ClusterIP, each ready pod for a headless one', () => {
    const web = ask('_http._tcp.web.shop.svc.cluster.local', DNS_TYPE.SRV);
    expect(web.answers).toEqual([
      expect.objectContaining({ port: 80, priority: 0, weight: 100, target: 'web.shop.svc.cluster.local' }),
    ]);
    expect(web.additionals).toEqual([
      expect.objectContaining({ name: 'web.shop.svc.cluster.local', address: webIP }),
    ]);
    const target = `${ip('db-a').replaceAll('.', '-')}.db.shop.svc.cluster.local`;
    const db = ask('_pg._tcp.db.shop.svc.cluster.local', DNS_TYPE.SRV);
    expect(db.answers).toEqual([expect.objectContaining({ port: 5432, target })]);
    expect(db.additionals).toEqual([expect.objectContaining({ name: target, address: ip('db-a') })]);
    expect(ask('_metrics._udp.web.shop.svc.cluster.local', DNS_TYPE.SRV).answers).toHaveLength(1);
    expect(ask('_metrics._tcp.web.shop.svc.cluster.local', DNS_TYPE.SRV).rcode).toBe(RCODE.NXDOMAIN);
  });

  it.each([
    ['an unknown Service', 'nope.shop.svc.cluster.local', true],
    ['a search-expanded name', 'web.shop.shop.svc.cluster.local', true],
    ['a short name (resolvers expand it, the server does not)', 'web', false],
    [
      'a pod address in the wrong namespace',
      `${ip('web-a').replaceAll('.', '-')}.other.pod.cluster.local`,
      true,
    ],
    ['an address nobody has', '99.99.244.10.in-addr.arpa', true],
    ['an outside name (no upstream)', 'example.com', false],
  ])('says NXDOMAIN for %s', (_what, name, authoritative) => {
    expect(ask(name)).toMatchObject({ rcode: RCODE.NXDOMAIN, authoritative, answers: [] });
  });

  it.each([
    ['an outside name goes upstream', 'api.outside.test', 'forward'],
    ['a cluster name it lacks stays NXDOMAIN', 'gone.shop.svc.cluster.local', RCODE.NXDOMAIN],
    ['a reverse name stays NXDOMAIN', '9.9.9.10.in-addr.arpa', RCODE.NXDOMAIN],
    ['a known name is answered', 'web.shop.svc.cluster.local', RCODE.NOERROR],
  ])('with an upstream (spec.dns.upstream): %s', (_what, name, expected) => {
    const answer = answerClusterQuery(buildQuery(7, name, DNS_TYPE.A), zone, true);
    expect(answer === 'forward' ? answer : answer?.rcode).toBe(expected);
  });

  it('follows readiness: a headless Service lists only ready pods', () => {
    const none = buildZone(clusterServices(cluster, new Set()));
    const answer = answerClusterQuery(buildQuery(1, 'db.shop.svc.cluster.local', DNS_TYPE.A), none)!;
    // The Service exists (NODATA), it just has no ready pod.
    expect(parseResponse(answer.response)).toMatchObject({ rcode: RCODE.NOERROR, answers: [] });
  });

  it('answers FORMERR, NOTIMP and REFUSED where a query deserves it, and drops what it cannot read', () => {
    const opcode = buildQuery(2, 'web.shop.svc.cluster.local', DNS_TYPE.A);
    opcode.writeUInt16BE(0x2800, 2);
    expect(answerClusterQuery(opcode, zone)?.rcode).toBe(RCODE.NOTIMP);
    const chaos = buildQuery(3, 'version.bind', 16);
    chaos.writeUInt16BE(3, chaos.length - 2);
    expect(answerClusterQuery(chaos, zone)?.rcode).toBe(RCODE.REFUSED);
    const cut = buildQuery(4, 'web.shop.svc.cluster.local', DNS_TYPE.A).subarray(0, 20);
    expect(answerClusterQuery(cut, zone)?.rcode).toBe(RCODE.FORMERR);
    expect(answerClusterQuery(Buffer.from([1, 2]), zone)).toBeUndefined();
  });
});

describe('the DNS codec', () => {
  it('writes and reads PTR, SRV and CNAME records with owner names of their own', () => {
    const raw = buildQuery(5, 'x.example', DNS_TYPE.ANY);
    const response = buildResponse(raw, parseQuery(raw), {
      rcode: RCODE.NOERROR,
      authoritative: true,
      answers: [
        { type: DNS_TYPE.PTR, ttl: 1, target: 'a.example' },
        { type: DNS_TYPE.SRV, ttl: 2, priority: 1, weight: 50, port: 443, target: 'b.example.' },
        { type: DNS_TYPE.CNAME, ttl: 3, name: 'alias.example', target: 'x.example' },
      ],
      additionals: [{ type: DNS_TYPE.AAAA, ttl: 4, name: 'b.example', address: 'fd00::1' }],
    });
    expect(parseResponse(response)).toEqual({
      id: 5,
      rcode: 0,
      authoritative: true,
      truncated: false,
      answers: [
        { name: 'x.example', type: DNS_TYPE.PTR, ttl: 1, target: 'a.example' },
        {
          name: 'x.example',
          type: DNS_TYPE.SRV,
          ttl: 2,
          priority: 1,
          weight: 50,
          port: 443,
          target: 'b.example',
        },
        { name: 'alias.example', type: DNS_TYPE.CNAME, ttl: 3, target: 'x.example' },
      ],
      additionals: [{ name: 'b.example', type: DNS_TYPE.AAAA, ttl: 4, address: 'fd00::1' }],
    });
  });

  it('refuses a label longer than 63 bytes', () => {
    expect(() => buildQuery(1, `${'a'.repeat(64)}.example`, DNS_TYPE.A)).toThrow(/63 bytes/);
  });
});

describe('the kube-proxy rules', () => {
  const node = cluster.nodes[0]!;
  const addresses = { underlayIP: node.underlayIP, podCIDR: node.podCIDR };
  const table = kubeProxyTable(view.services, addresses);
  const rules = table.definition;
  const lines = rules.split('\n').map((line) => line.trim());

  it('replaces our table whole, in one transaction, when it does not know what is there', () => {
    expect(kubeProxyScript(undefined, table).split('\n').slice(0, 3)).toEqual([
      `table ip ${KUBE_PROXY_TABLE}`,
      `delete table ip ${KUBE_PROXY_TABLE}`,
      `table ip ${KUBE_PROXY_TABLE} {`,
    ]);
  });

  it('moves the table on without dropping the affinity of the endpoints that stay', () => {
    const withoutB = readyPodUids(['web-a', 'web-c', 'db-a'].map((n) => status(n, 'running', true)));
    const next = kubeProxyTable(clusterServices(cluster, withoutB).services, addresses);
    const script = kubeProxyScript(table, next).split('\n');
    expect(script.slice(0, 3)).toEqual([
      `flush table ip ${KUBE_PROXY_TABLE}`,
      `flush map ip ${KUBE_PROXY_TABLE} service_ips`,
      `flush map ip ${KUBE_PROXY_TABLE} node_ports`,
    ]);
    const b = `shop_web_80_tcp_${ip('web-b').replaceAll('.', '-')}_8081`;
    const deletes = script.filter((line) => line.startsWith('delete '));
    expect(deletes.sort()).toEqual(
      [
        `delete chain ip ${KUBE_PROXY_TABLE} ep_${b}`,
        `delete chain ip ${KUBE_PROXY_TABLE} ep_shop_web_9090_udp_${ip('web-b').replaceAll('.', '-')}_9090`,
        `delete set ip ${KUBE_PROXY_TABLE} aff_${b}_10800s`,
        `delete set ip ${KUBE_PROXY_TABLE} aff_shop_web_9090_udp_${ip('web-b').replaceAll('.', '-')}_9090_10800s`,
      ].sort(),
    );
    // web-a's affinity set is declared again (a no-op for nft), never deleted: its clients stay.
    expect(next.sets).toContain(`aff_shop_web_80_tcp_${ip('web-a').replaceAll('.', '-')}_8080_10800s`);
  });

  it('sends each VIP port, and each node port on the node address, to its own chain', () => {
    expect(rules).toContain(`${webIP} . tcp . 80 : goto svc_shop_web_80_tcp`);
    expect(rules).toContain(`${webIP} . udp . 9090 : goto svc_shop_web_9090_udp`);
    expect(rules).toContain('tcp . 30001 : goto svc_shop_web_80_tcp');
    expect(rules).toContain('tcp . 30000 : goto svc_shop_lb_5432_tcp');
    expect(lines).toContain(`ip daddr ${node.underlayIP} meta l4proto . th dport vmap @node_ports`);
    // A headless Service has no VIP: nothing to rewrite.
    expect(rules).not.toContain('svc_shop_db_');
  });

  it('picks a random ready endpoint, with the pod port each serves on', () => {
    const a = `ep_shop_web_80_tcp_${ip('web-a').replaceAll('.', '-')}_8080`;
    const b = `ep_shop_web_80_tcp_${ip('web-b').replaceAll('.', '-')}_8081`;
    expect(lines).toContain(`numgen random mod 2 vmap { 0 : goto ${a}, 1 : goto ${b} }`);
    expect(lines).toContain(`meta l4proto tcp dnat to ${ip('web-a')}:8080`);
    expect(lines).toContain(`meta l4proto tcp dnat to ${ip('web-b')}:8081`);
  });

  it('keeps a client on its endpoint under sessionAffinity: ClientIP, and not otherwise', () => {
    const a = `shop_web_80_tcp_${ip('web-a').replaceAll('.', '-')}_8080`;
    expect(lines).toContain(`ip saddr @aff_${a}_10800s goto ep_${a}`);
    expect(lines).toContain(`update @aff_${a}_10800s { ip saddr }`);
    expect(lines).toContain('timeout 10800s;');
    expect(rules).not.toMatch(/@aff_shop_lb_/);
  });

  it('masquerades hairpin traffic of the node and NodePort traffic', () => {
    expect(lines).toContain(`ct status dnat ip saddr ${node.podCIDR} ip daddr ${node.podCIDR} masquerade`);
    expect(lines).toContain(`ct status dnat ct original ip daddr ${node.underlayIP} masquerade`);
  });

  it('has no rule for a Service port without ready endpoints (its VIP fails at once)', () => {
    const none = kubeProxyTable(clusterServices(cluster, new Set()).services, addresses).definition;
    expect(none).not.toContain('goto svc_');
    expect(none).not.toContain('dnat to');
  });
});

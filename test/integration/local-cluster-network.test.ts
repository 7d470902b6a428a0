/**
 * The local cluster's network behaves like a Kubernetes cluster's, for pods in the mesh and outside it: the
 * cluster DNS answers Service names in every form (and only real names, NXDOMAIN at once for the rest, with
 * no upstream), reverse names and SRV records; kube-proxy rules carry ClusterIPs, NodePorts on node
 * addresses (including the same-node hairpin) to ready endpoints with named targetPorts, at random or
 * sticky per client (also across endpoint changes); a pod that fails its readiness probe or ends leaves its
 * Services' endpoints, in the rules and in DNS, and a pod whose probe passes again comes back.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KUBE_PROXY_TABLE } from '../../src/local/kube-proxy/rules.ts';
import { nodeNetns } from '../../src/local/names.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { clusterDoc, echoPod, manifests, namespaceDoc, podDoc, serviceDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const NODE_PORT = 30080;

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('shop'),
    namespaceDoc('mesh', { ambient: true }),
    echoPod('web-a', { namespace: 'shop', node: 'n1', labels: { app: 'web' } }),
    echoPod('web-b', { namespace: 'shop', node: 'n2', labels: { app: 'web' } }),
    // Ends for good when killed: it must then leave the endpoints.
    echoPod('web-c', { namespace: 'shop', node: 'n2', labels: { app: 'web' }, restartPolicy: 'Never' }),
    echoPod('hello-a', { namespace: 'mesh', node: 'n2', labels: { app: 'hello' } }),
    // Ready while /tmp/ready exists (its readiness probe): the test takes it out and lets it back in.
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'gated', namespace: 'shop', labels: { app: 'gated' } },
      spec: {
        nodeName: 'n1',
        containers: [
          {
            name: 'main',
            command: ['sh', '-c', 'touch /tmp/ready && exec ambit echo --port 8080'],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: {
              exec: { command: ['test', '-e', '/tmp/ready'] },
              periodSeconds: 1,
              failureThreshold: 1,
            },
            volumeMounts: [{ name: 'scratch', mountPath: '/tmp' }],
          },
        ],
        volumes: [{ name: 'scratch', emptyDir: {} }],
      },
    },
    podDoc('client', { namespace: 'shop', node: 'n1' }),
    podDoc('mclient', { namespace: 'mesh', node: 'n1' }),
    serviceDoc('web', {
      namespace: 'shop',
      spec: {
        type: 'NodePort',
        ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: NODE_PORT }],
      },
    }),
    serviceDoc('sticky', {
      namespace: 'shop',
      app: 'web',
      spec: { sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    }),
    serviceDoc('web-headless', {
      namespace: 'shop',
      app: 'web',
      spec: { clusterIP: 'None', ports: [{ name: 'http', port: 8080 }] },
    }),
    serviceDoc('hello', { namespace: 'mesh' }),
    serviceDoc('gated', { namespace: 'shop' }),
  );

interface EchoAnswer {
  pod: string;
  request: { source: string };
}

describe.runIf(canRunNetnsTests())('the local cluster network (cluster DNS, kube-proxy)', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-net');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const inPod = (pod: string, namespace: string, ...command: string[]) =>
    run('local', 'exec', pod, '-n', namespace, '--name', name, '--', ...command);
  /** GETs `url` from the pod: the HTTP status (0 when the connection failed) and the echo's answer. */
  const get = async (from: Client, url: string) => {
    const result = await inPod(
      from.pod,
      from.namespace,
      'curl',
      '-sS',
      '-m',
      '5',
      '-w',
      '\n%{http_code}',
      url,
    );
    const lines = result.stdout.trimEnd().split('\n');
    const code = Number(lines.pop());
    return { code, echo: code === 200 ? (JSON.parse(lines.join('\n')) as EchoAnswer) : undefined, result };
  };
  const getPods = async (from: Client, url: string, count: number) => {
    const pods: string[] = [];
    for (let i = 0; i < count; i++) {
      const answer = await get(from, url);
      expect(answer.code, `${url}: ${answer.result.stderr}`).toBe(200);
      pods.push(answer.echo!.pod);
    }
    return pods;
  };
  const dig = async (from: Client, ...query: string[]) =>
    (await inPod(from.pod, from.namespace, 'dig', '+tries=1', '+time=1', ...query)).stdout;
  const nodeTable = (node: string) =>
    execFileSync(
      'ip',
      ['netns', 'exec', nodeNetns(name, node), 'nft', 'list', 'table', 'ip', KUBE_PROXY_TABLE],
      {
        encoding: 'utf8',
      },
    );
  let report: ClusterReport;
  const podIp = (pod: string) => report.pods.find((p) => p.name === pod)!.ip;
  const clusterIP = (service: string) => report.services.find((s) => s.name === service)!.clusterIP!;
  const nodeIp = (node: string) => report.nodes.find((n) => n.name === node)!.underlayIP;

  interface Client {
    pod: string;
    namespace: string;
    what: string;
  }
  const clients: Client[] = [
    { pod: 'client', namespace: 'shop', what: 'a pod outside the mesh' },
    { pod: 'mclient', namespace: 'mesh', what: 'a pod in the mesh' },
  ];

  beforeAll(async () => {
    const result = await run('local', 'up', '-f', writeClusterFile(root, name, clusterYaml(name)));
    expect(result.code, result.stderr).toBe(0);
    report = JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
    expect(report.pods.map((p) => [p.name, p.ready, p.mesh?.state])).toEqual(
      expect.arrayContaining([
        ['client', true, 'none'],
        ['mclient', true, 'ambient'],
        ['web-c', true, 'none'],
      ]),
    );
    // `status` shows the node port as kubectl does (port:nodePort).
    expect(report.services.find((s) => s.name === 'web')!.ports).toEqual(['http 80:30080->http/TCP']);
  });

  afterAll(async () => {
    const result = await local('down');
    expect(result.code, result.stderr).toBe(0);
    // The rules lived in the nodes' namespaces: nothing of them is left in the root namespace either.
    expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain(KUBE_PROXY_TABLE);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    rmSync(root, { recursive: true, force: true });
  });

  describe.each(clients)('from $what', (from) => {
    it('reaches a Service by every name, by its ClusterIP and by a NodePort on a node address', async () => {
      const urls = [
        'http://web.shop/',
        'http://web.shop.svc.cluster.local/',
        `http://${clusterIP('web')}/`,
        `http://${nodeIp('n1')}:${NODE_PORT}/`,
        `http://${nodeIp('n2')}:${NODE_PORT}/`,
        'http://web-headless.shop:8080/',
        // A Service of the mesh (HBONE for the mesh client, plaintext into the mesh for the other).
        'http://hello.mesh/',
        ...(from.namespace === 'shop' ? ['http://web/'] : ['http://hello/']),
      ];
      for (const url of urls) {
        const answer = await get(from, url);
        expect(answer.code, `${url}: ${answer.result.stderr}`).toBe(200);
        expect(answer.echo!.pod).toMatch(url.includes('hello') ? /^hello-a$/ : /^web-[abc]$/);
      }
    });

    it('resolves names with their canonical names, never a search-expanded one', async () => {
      const { stdout } = await inPod(from.pod, from.namespace, 'getent', 'hosts', 'hello.mesh', 'web.shop');
      expect(
        stdout
          .trim()
          .split('\n')
          .map((line) => line.split(/\s+/)),
      ).toEqual([
        [clusterIP('hello'), 'hello.mesh.svc.cluster.local'],
        [clusterIP('web'), 'web.shop.svc.cluster.local'],
      ]);
    });

    it('answers reverse lookups of pod and Service addresses', async () => {
      const ip = podIp('web-b');
      const { stdout } = await inPod(from.pod, from.namespace, 'getent', 'hosts', ip, clusterIP('web'));
      const lines = stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/));
      expect(lines).toEqual([
        [ip, `${ip.replaceAll('.', '-')}.shop.pod.cluster.local`],
        [clusterIP('web'), 'web.shop.svc.cluster.local'],
      ]);
    });

    it('answers SRV for named ports', async () => {
      expect((await dig(from, '+short', 'SRV', '_http._tcp.web.shop.svc.cluster.local')).trim()).toBe(
        '0 100 80 web.shop.svc.cluster.local.',
      );
      const headless = (await dig(from, '+short', 'SRV', '_http._tcp.web-headless.shop.svc.cluster.local'))
        .trim()
        .split('\n')
        .sort();
      expect(headless).toEqual(
        ['web-a', 'web-b', 'web-c']
          .map((pod) => `0 33 8080 ${podIp(pod).replaceAll('.', '-')}.web-headless.shop.svc.cluster.local.`)
          .sort(),
      );
    });

    it.each(['nope.shop.svc.cluster.local', 'web.shop.shop.svc.cluster.local', 'example.com'])(
      'answers NXDOMAIN for %s (an answer, not a timeout)',
      async (unknown) => {
        const output = await dig(from, unknown);
        expect(output).toMatch(/status: NXDOMAIN/);
        expect(output).not.toMatch(/timed out/);
      },
    );
  });

  it('spreads connections over the ready endpoints, including the same-node hairpin', async () => {
    const client = clients[0]!;
    const answers: EchoAnswer[] = [];
    for (let i = 0; i < 30; i++) {
      const answer = await get(client, `http://${clusterIP('web')}/`);
      expect(answer.code).toBe(200);
      answers.push(answer.echo!);
    }
    expect(new Set(answers.map((a) => a.pod))).toEqual(new Set(['web-a', 'web-b', 'web-c']));
    // Across nodes the endpoint sees the client itself; on its own node (web-a), the node (masquerade),
    // which is what brings the reply back through the node's conntrack.
    const sources = (pod: string) =>
      new Set(answers.filter((a) => a.pod === pod).map((a) => a.request.source.split(':')[0]));
    expect(sources('web-b')).toEqual(new Set([podIp('client')]));
    expect(sources('web-a')).toEqual(
      new Set([report.pods.find((p) => p.name === 'web-a')!.ip.replace(/\.\d+$/, '.1')]),
    );
  });

  let stickyPod = '';
  it('keeps a client on one endpoint with sessionAffinity: ClientIP', async () => {
    const pods = await getPods(clients[0]!, `http://${clusterIP('sticky')}/`, 12);
    expect(new Set(pods).size).toBe(1);
    stickyPod = pods[0]!;
  });

  it('puts the rules in a table of its own in each node namespace', () => {
    for (const node of ['n1', 'n2']) {
      const table = nodeTable(node);
      expect(table).toContain(`${clusterIP('web')} . tcp . 80 : goto svc_shop_web_80_tcp`);
      expect(table).toContain(`dnat to ${podIp('web-b')}:8080`);
    }
  });

  it('follows a readiness probe: out of the endpoints while it fails, back when it passes', async () => {
    const client = clients[0]!;
    const gated = `http://${clusterIP('gated')}/`;
    const inTable = () => nodeTable('n1').includes(`dnat to ${podIp('gated')}:8080`);
    expect(inTable()).toBe(true);
    expect((await get(client, gated)).code).toBe(200);
    await inPod('gated', 'shop', 'rm', '/tmp/ready');
    await eventually(() => !inTable(), { what: 'gated to leave the rules', timeout: 15_000 });
    // No ready endpoint: the VIP has no rule, so the connection fails at once (no route), not after a timeout.
    expect((await get(client, gated)).code).toBe(0);
    await inPod('gated', 'shop', 'touch', '/tmp/ready');
    await eventually(inTable, { what: 'gated to come back into the rules', timeout: 15_000 });
    expect((await get(client, gated)).echo?.pod).toBe('gated');
  });

  it('takes a pod that is no longer ready out of the endpoints, for the VIP and for DNS', async () => {
    const pid = report.pods.find((p) => p.name === 'web-c')!.pid!;
    process.kill(pid, 'SIGKILL');
    const client = clients[0]!;
    await eventually(
      async () => {
        const addresses = (await dig(client, '+short', 'web-headless.shop.svc.cluster.local'))
          .trim()
          .split('\n');
        return !addresses.includes(podIp('web-c'));
      },
      { what: 'web-c to leave the headless Service', timeout: 15_000 },
    );
    await eventually(() => !nodeTable('n1').includes(podIp('web-c')), {
      what: 'web-c to leave the kube-proxy rules',
      timeout: 15_000,
    });
    const pods = await getPods(client, `http://${clusterIP('web')}/`, 20);
    expect(new Set(pods)).toEqual(new Set(['web-a', 'web-b']));
    // The sticky client keeps its endpoint when another one goes (or, if its own went, sticks to a new one).
    const sticky = new Set(await getPods(client, `http://${clusterIP('sticky')}/`, 8));
    expect(sticky.size).toBe(1);
    if (stickyPod !== 'web-c') expect(sticky).toEqual(new Set([stickyPod]));
  });
});

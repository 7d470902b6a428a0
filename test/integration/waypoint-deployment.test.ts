/**
 * Waypoints deployed in a real local cluster and bound end to end, driven through the `ambit` CLI: the
 * cluster file's Gateway (class istio-waypoint) runs as an unprivileged pod with the Gateway's identity and
 * is Programmed with its address; Service traffic of the namespace bound with `istio.io/use-waypoint` goes to
 * it; a client that dials the pod IP directly is refused by the destination ztunnel (fail closed), from the
 * mesh and from outside it, while a port no bound Service targets stays reachable; a waypoint applied later
 * with `ambit waypoint apply --for workload` takes the pod-IP traffic of a pod labelled to use it and serves
 * it (the app answers through it, counted with reporter="waypoint"); deleting
 * the waypoint makes traffic fail rather than go direct, and applying it again brings it back; the
 * supervisor restarts a waypoint that crashed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import { podNetns } from '../../src/local/names.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit } from '../support/cli.ts';
import { clusterDown, clusterUp } from '../support/cluster-lifecycle.ts';
import { eventually } from '../support/eventually.ts';
import { makeStateRoot, uniqueName } from '../support/local-cluster.ts';
import { clusterDoc, echoPod, manifests, namespaceDoc, podDoc, serviceDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('apps', { ambient: true, labels: { 'istio.io/use-waypoint': 'waypoint' } }),
    namespaceDoc('plain'),
    waypointGateway('waypoint', 'apps', 'service'),
    echoPod('echo', { namespace: 'apps', node: 'n2', labels: { app: 'echo' }, tcp: true, version: 'v1' }),
    podDoc('client', { namespace: 'apps', node: 'n1' }),
    podDoc('outsider', { namespace: 'plain', node: 'n1' }),
    serviceDoc('echo', { namespace: 'apps' }),
  );

interface GatewayJson {
  status: { addresses: { value: string }[]; conditions: { type: string; status: string }[] };
}

describe.runIf(canRunNetnsTests())('waypoints deployed and bound in a local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-wpd');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const waypoint = (...args: string[]) => run('waypoint', ...args, '--cluster', name);
  const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
  const inPod = (pod: string, namespace: string, ...command: string[]) =>
    run('local', 'exec', pod, '-n', namespace, '--name', name, '--', ...command);
  /** The HTTP status of a GET from the pod (0 when the connection failed or was reset). */
  const code = async (pod: string, namespace: string, url: string) => {
    const result = await inPod(
      pod,
      namespace,
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-m',
      '5',
      '-w',
      '%{http_code}',
      url,
    );
    return Number(result.stdout.trim() || '0');
  };
  const nodeLog = (node: string) => readFileSync(join(root, name, 'logs', `node-agent_${node}.log`), 'utf8');
  /** Access-log lines of `node`'s ztunnel written since `mark` (a length of the log). */
  const accessSince = (node: string, mark: number) =>
    nodeLog(node)
      .slice(mark)
      .split('\n')
      .filter((line) => line.includes('"connection complete"'));
  const gateway = async (gatewayName: string) => {
    const result = await run('get', 'gateway', gatewayName, '-n', 'apps', '-o', 'json', '--name', name);
    return result.code === 0 ? (JSON.parse(result.stdout) as GatewayJson) : undefined;
  };
  const programmed = (found: GatewayJson | undefined) =>
    found?.status.conditions.find((c) => c.type === 'Programmed')?.status === 'True';
  const podOf = (report: ClusterReport, pod: string) => report.pods.find((p) => p.name === pod);
  let echoIp = '';

  beforeAll(async () => {
    await clusterUp(root, name, clusterYaml(name));
    echoIp = podOf(await status(), 'echo')!.ip;
  });

  afterAll(async () => {
    await clusterDown(root, name);
  });

  it("runs the cluster file's Gateway as an unprivileged pod with its identity, Programmed with its address", async () => {
    const report = await status();
    expect(podOf(report, 'waypoint-0')).toMatchObject({
      namespace: 'apps',
      serviceAccount: 'waypoint',
      runAsUser: 1337,
      status: 'Running',
      ready: true,
      mesh: { state: 'none' },
    });
    const found = await eventually(
      async () => {
        const current = await gateway('waypoint');
        return programmed(current) ? current : undefined;
      },
      { timeout: 15_000, what: 'the waypoint to be Programmed' },
    );
    expect(found.status.addresses.map((a) => a.value)).toEqual([podOf(report, 'waypoint-0')!.ip]);
    const listed = await waypoint('list', '-n', 'apps');
    expect(listed.stdout).toMatch(/apps\s+waypoint\s+service\s+True\s+10\.244\./);
    const shown = await waypoint('status', '-n', 'apps');
    expect(shown.code, shown.stdout).toBe(0);
    // And what the waypoint itself says, through its admin socket: the bound Service's route and endpoint.
    expect(shown.stdout).toMatch(
      /ROUTES of apps\/waypoint\n[\s\S]*echo\.apps\.svc\.cluster\.local\s+80\s+http/,
    );
    expect(shown.stdout).toMatch(
      /CLUSTERS of apps\/waypoint\n[\s\S]*outbound\|80\|\|echo\.apps\.svc\.cluster\.local\s+\S+\s+10\.244\.\d+\.\d+:8080\s+apps\/echo\s+HEALTHY/,
    );
    // Its certificate is the Gateway's identity, obtained with its node's credentials.
    const log = readFileSync(join(root, name, 'logs', 'pod_apps_waypoint-0.log'), 'utf8');
    expect(log).toContain('spiffe://cluster.local/ns/apps/sa/waypoint');
  });

  it('sends Service traffic to the waypoint and refuses clients that dial the pod around it', async () => {
    let mark = nodeLog('n1').length;
    await code('client', 'apps', 'http://echo.apps/hello');
    await eventually(
      async () =>
        accessSince('n1', mark).find(
          (line) => line.includes('"mode":"waypoint"') && line.includes('"dst.workload":"apps/waypoint-0"'),
        ),
      { timeout: 10_000, what: "the client's ztunnel to send the request to the waypoint" },
    );
    mark = nodeLog('n2').length;
    expect(await code('client', 'apps', `http://${echoIp}:8080/direct`)).toBe(0);
    // Plaintext from outside the mesh (PERMISSIVE) is refused on that port too.
    expect(await code('outsider', 'plain', `http://${echoIp}:8080/direct`)).toBe(0);
    const refusals = await eventually(
      async () => {
        const lines = accessSince('n2', mark).filter((line) =>
          line.includes('served through waypoint apps/waypoint'),
        );
        return lines.length >= 2 ? lines : undefined;
      },
      { timeout: 10_000, what: "the echo pod's ztunnel to refuse both bypasses" },
    );
    expect(refusals.some((line) => line.includes('"src.workload":"apps/client"'))).toBe(true);
    // A port that no waypoint-bound Service targets is not L7 traffic: it still goes direct.
    const tcp = await inPod('client', 'apps', 'sh', '-c', `echo ping | socat -t 2 - TCP:${echoIp}:9000`);
    expect(tcp.stdout.trim(), tcp.stderr).toBe('ping');
  });

  it('deploys a waypoint applied later, and sends pod-IP traffic through it when it serves workloads', async () => {
    const applied = await waypoint('apply', '-n', 'apps', '--name', 'pods', '--for', 'workload', '--wait');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('waypoint apps/pods programmed');
    expect(podOf(await status(), 'pods-0')).toMatchObject({ serviceAccount: 'pods', ready: true });
    const labelled = await local('label', 'pod', 'echo', '-n', 'apps', 'istio.io/use-waypoint=pods');
    expect(labelled.code, labelled.stderr).toBe(0);
    const mark = nodeLog('n1').length;
    await eventually(
      async () => {
        await code('client', 'apps', `http://${echoIp}:8080/by-ip`);
        return accessSince('n1', mark).find(
          (line) => line.includes('"mode":"waypoint"') && line.includes('"dst.workload":"apps/pods-0"'),
        );
      },
      { timeout: 15_000, what: 'pod-IP traffic to go through the workload waypoint' },
    );
    // The waypoint serves the pod IP (a route to the pod itself), so the app answers through it...
    expect(await code('client', 'apps', `http://${echoIp}:8080/by-ip`)).toBe(200);
    // ...and counts it as the waypoint's request to the echo workload.
    const metrics = execFileSync(
      'ip',
      ['netns', 'exec', podNetns(name, 'apps', 'pods-0'), 'curl', '-s', 'http://127.0.0.1:15020/metrics'],
      { encoding: 'utf8' },
    );
    const served = metrics
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('istio_requests_total{') &&
          line.includes('reporter="waypoint"') &&
          line.includes('destination_app="echo"') &&
          line.includes('response_code="200"'),
      );
    expect(served.length, metrics).toBeGreaterThan(0);
    const removed = await local('label', 'pod', 'echo', '-n', 'apps', 'istio.io/use-waypoint-');
    expect(removed.code, removed.stderr).toBe(0);
    const deleted = await waypoint('delete', 'pods', '-n', 'apps');
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually(async () => (podOf(await status(), 'pods-0') === undefined ? true : undefined), {
      timeout: 15_000,
      what: 'the workload waypoint pod to go',
    });
  });

  it('refuses rather than going direct while the waypoint is deleted, and deploys it again', async () => {
    const deleted = await waypoint('delete', '-n', 'apps');
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually(async () => (podOf(await status(), 'waypoint-0') === undefined ? true : undefined), {
      timeout: 15_000,
      what: 'the waypoint pod to be removed',
    });
    // A removed pod leaves the record first, and its network once it has stopped (after its drain).
    await eventually(
      () =>
        execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(
          podNetns(name, 'apps', 'waypoint-0'),
        )
          ? undefined
          : true,
      { timeout: 20_000, what: "the waypoint pod's network namespace gone" },
    );
    const mark = nodeLog('n1').length;
    await eventually(
      async () => {
        expect(await code('client', 'apps', 'http://echo.apps/after-delete')).toBe(0);
        return accessSince('n1', mark).find((line) => line.includes('no-ready-waypoint'));
      },
      { timeout: 10_000, what: 'the client ztunnel to refuse for want of a waypoint' },
    );
    const applied = await waypoint('apply', '-n', 'apps', '--enroll-namespace', '--wait');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('namespace apps labelled with "istio.io/use-waypoint: waypoint"');
    expect(programmed(await gateway('waypoint'))).toBe(true);
  });

  it('restarts a waypoint that crashed, Programmed again once it is ready', async () => {
    const before = podOf(await status(), 'waypoint-0')!;
    process.kill(before.pid!, 'SIGKILL');
    const after = await eventually(
      async () => {
        const pod = podOf(await status(), 'waypoint-0');
        return pod && pod.restarts > before.restarts && pod.ready ? pod : undefined;
      },
      { timeout: 20_000, what: 'the supervisor to restart the waypoint' },
    );
    expect(after.pid).not.toBe(before.pid);
    await eventually(async () => (programmed(await gateway('waypoint')) ? true : undefined), {
      timeout: 15_000,
      what: 'Programmed',
    });
  });
});

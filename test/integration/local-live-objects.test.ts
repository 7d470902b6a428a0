/**
 * Live objects on a real running local cluster, driven through the `ambit` CLI: a Service and a Deployment
 * applied after `up` get pods (processes, addresses), a ClusterIP and a name that a client reaches, in the
 * mesh and outside it,
 * and are gone after `ambit delete` (pods, their network namespaces, the Service and its name); an image
 * without stand-in is refused with its field and nothing is applied; an applied pod's env holds its
 * ConfigMap's and Secret's keys (`envFrom`, `valueFrom`) and its own fields, and a key as a file
 * (`subPath`); its init containers run in
 * order to completion first, a failed one again as the restart policy says; a rolling update of the Deployment
 * behind a client looping over the Service drops no request; `ambit local scale` adds and removes pods
 * and the Service's endpoints follow; `ambit local rollout restart` replaces every pod. A stored pod whose
 * Namespace was deleted is left out (and stopped) while every other live change is still followed.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podNetns } from '../../src/local/names.ts';
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
import {
  clusterDoc,
  deploymentDoc,
  manifests,
  namespaceDoc,
  podDoc,
  serviceDoc,
} from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const echoDeployment = (replicas: number, version: string) =>
  deploymentDoc('echo', replicas, {
    namespace: 'apps',
    command: ['ambit', 'echo', '--port', '8080', '--version', version],
    ports: { http: 8080 },
  });

/**
 * Requests from the client until the file `$1` exists (`$1.started` appears after the first success):
 * each failure's HTTP status on stderr, `ok=<n> fail=<n>` at the end.
 */
const LOOP = `ok=0; fail=0
until [ -e "$1" ]; do
  code=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{errormsg}' http://echo.apps/ 2>&1)
  if [ "$code" = "200 " ]; then ok=$((ok+1)); [ -e "$1.started" ] || : > "$1.started"; else fail=$((fail+1)); echo "$(date +%T.%N) failed: $code" >&2; fi
done
echo "ok=$ok fail=$fail"`;

describe.runIf(canRunNetnsTests())('live objects on a running local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-live');
  // The client's loop script and its marker files: a directory of this run that the pod's user can write.
  const shared = mkdtempSync(join(tmpdir(), 'ambit-live-'));
  chmodSync(shared, 0o777);
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
  const applyFile = (file: string, yaml: string, command: 'apply' | 'delete' = 'apply') => {
    const path = join(root, file);
    writeFileSync(path, yaml);
    return run(command, '-f', path, '--name', name);
  };
  const fromClient = (...command: string[]) =>
    run('local', 'exec', 'client', '-n', 'apps', '--name', name, '--', ...command);
  const fromOutsider = (...command: string[]) =>
    run('local', 'exec', 'outsider', '-n', 'plain', '--name', name, '--', ...command);
  const get = async (url: string, from = fromClient) => {
    const result = await from('curl', '-s', '-m', '5', url);
    return result.code === 0 ? (JSON.parse(result.stdout) as { pod: string; version: string }) : undefined;
  };
  const echoPods = (report: ClusterReport) => report.pods.filter((pod) => pod.name.startsWith('echo-'));
  const readyEchoPods = async (version: string, count: number) =>
    eventually(
      async () => {
        const pods = echoPods(await status());
        return pods.length === count && pods.every((pod) => pod.ready) ? pods : undefined;
      },
      { timeout: 30_000, what: `${count} ready echo pods (${version})` },
    );

  beforeAll(async () => {
    const yaml = manifests(
      clusterDoc(name),
      namespaceDoc('apps', { ambient: true }),
      podDoc('client', { namespace: 'apps', node: 'n1' }),
      namespaceDoc('plain'),
      podDoc('outsider', { namespace: 'plain', node: 'n2' }),
    );
    const result = await run('local', 'up', '-f', writeClusterFile(root, name, yaml));
    expect(result.code, result.stderr).toBe(0);
    writeFileSync(join(shared, 'loop.sh'), LOOP, { mode: 0o644 });
  });

  afterAll(async () => {
    const result = await local('down');
    expect(result.code, result.stderr).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    // The mount points made on the host for the pods' volumes (the envy pod's file, the init pods' directory).
    expect(existsSync(`/opt/${name}`)).toBe(false);
    rmSync(root, { recursive: true, force: true });
    rmSync(shared, { recursive: true, force: true });
  });

  it('creates a Service and a Deployment for real, and deletes them', async () => {
    const yaml = manifests(echoDeployment(2, 'v1'), serviceDoc('echo', { namespace: 'apps' }));
    const applied = await applyFile('echo.yaml', yaml);
    expect(applied.code, applied.stderr).toBe(0);
    const pods = await readyEchoPods('v1', 2);
    expect(new Set(pods.map((pod) => pod.node))).toEqual(new Set(['n1', 'n2']));
    const service = (await status()).services.find((s) => s.name === 'echo')!;
    expect(service).toMatchObject({ namespace: 'apps', clusterIP: '10.96.0.1', pods: 2 });
    // The control plane serves the same VIP (the mesh's DNS and routing use it).
    const stored = await run('get', 'svc', 'echo', '-n', 'apps', '-o', 'json', '--name', name);
    expect((JSON.parse(stored.stdout) as { spec: { clusterIP: string } }).spec.clusterIP).toBe('10.96.0.1');
    const byName = await eventually(() => get('http://echo.apps/'), {
      timeout: 15_000,
      what: 'echo.apps to answer',
    });
    expect(pods.map((pod) => pod.name)).toContain(byName.pod);
    expect((await get('http://10.96.0.1/'))?.version).toBe('v1');
    expect((await get('http://echo/'))?.version).toBe('v1');
    // Outside the mesh too: the cluster DNS and kube-proxy follow the record.
    const outside = await eventually(() => get('http://echo.apps.svc.cluster.local/', fromOutsider), {
      timeout: 15_000,
      what: 'echo.apps to answer a pod outside the mesh',
    });
    expect(outside.version).toBe('v1');
    expect((await get('http://10.96.0.1/', fromOutsider))?.version).toBe('v1');

    const deleted = await applyFile('echo.yaml', yaml, 'delete');
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually(async () => echoPods(await status()).length === 0, {
      timeout: 20_000,
      what: 'echo pods gone',
    });
    expect((await status()).services).toEqual([]);
    // A removed pod leaves the record first, and its network once it has stopped (after the drain).
    await eventually(
      () => {
        const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
        return pods.every((pod) => !namespaces.includes(podNetns(name, 'apps', pod.name)));
      },
      { timeout: 20_000, what: "the echo pods' network namespaces gone" },
    );
    await eventually(
      async () => (await fromClient('curl', '-s', '-m', '2', 'http://echo.apps/')).code !== 0,
      {
        timeout: 10_000,
        what: 'echo.apps to be gone',
      },
    );
  });

  it('refuses an image it has no stand-in for, naming the field, and applies nothing', async () => {
    const yaml = manifests(serviceDoc('other', { namespace: 'apps' }), {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'img', namespace: 'apps' },
      spec: { containers: [{ name: 'c', image: 'example.com/unknown:1' }] },
    });
    const result = await applyFile('bad.yaml', yaml);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /bad\.yaml: document 2 \(Pod apps\/img\): spec\.containers\[0\]\.image: .*"example\.com\/unknown:1"/,
    );
    expect((await run('get', 'svc', '-n', 'apps', '--name', name)).stdout).not.toContain('other');
    expect((await status()).services).toEqual([]);
  });

  it("gives an applied pod its ConfigMap's and Secret's keys and its own fields as env, and a key as a file by subPath", async () => {
    // Made on the host for the mount and removed by `down` (checked after it).
    const modeFile = `/opt/${name}/mode.conf`;
    const yaml = manifests(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'settings', namespace: 'plain' },
        data: { MODE: 'fast', LEVEL: '3' },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'creds', namespace: 'plain' },
        stringData: { password: 's3cret' },
      },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'envy', namespace: 'plain' },
        spec: {
          serviceAccountName: 'default',
          volumes: [{ name: 'conf', configMap: { name: 'settings' } }],
          containers: [
            {
              name: 'c',
              command: ['sleep', 'infinity'],
              volumeMounts: [{ name: 'conf', mountPath: modeFile, subPath: 'MODE' }],
              envFrom: [{ prefix: 'CM_', configMapRef: { name: 'settings' } }],
              env: [
                { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
                { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'MY_SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
              ],
            },
          ],
        },
      },
    );
    expect((await applyFile('envy.yaml', yaml)).code).toBe(0);
    const pod = await eventually(
      async () => (await status()).pods.find((p) => p.name === 'envy' && p.ready),
      {
        timeout: 20_000,
        what: 'the envy pod running',
      },
    );
    const printed = await run(
      'local',
      'exec',
      'envy',
      '-n',
      'plain',
      '--name',
      name,
      '--',
      'sh',
      '-c',
      `echo "$CM_MODE $CM_LEVEL $PASSWORD $MY_IP $MY_SA $(cat ${modeFile})"`,
    );
    expect(printed.stdout.trim()).toBe(`fast 3 s3cret ${pod.ip} default fast`);
    expect((await applyFile('envy.yaml', yaml, 'delete')).code).toBe(0);
    await eventually(async () => !(await status()).pods.some((p) => p.name === 'envy'), {
      timeout: 20_000,
      what: 'the envy pod gone',
    });
  });

  it('runs init containers in order to completion before the container, retrying a failed one as the restart policy says', async () => {
    // A fresh directory of this run for the emptyDir's mount point (made on the host, removed by `down`).
    const work = `/opt/${name}/work`;
    const initPod = (podName: string, restartPolicy: string, second: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: podName, namespace: 'plain' },
      spec: {
        restartPolicy,
        volumes: [{ name: 'work', emptyDir: {} }],
        initContainers: [
          {
            name: 'first',
            // Long enough for the status to show it running (and the pod not ready meanwhile).
            command: ['sh', '-c', `echo first >> ${work}/log; sleep 2`],
            volumeMounts: [{ name: 'work', mountPath: work }],
          },
          {
            name: 'second',
            command: ['sh', '-c', second],
            volumeMounts: [{ name: 'work', mountPath: work }],
          },
        ],
        containers: [
          {
            name: 'main',
            command: ['sh', '-c', `echo main >> ${work}/log; exec sleep infinity`],
            volumeMounts: [{ name: 'work', mountPath: work }],
          },
        ],
      },
    });
    // Fails on its first run only: the kubelet runs that init container again, not the ones before it.
    const failsOnce = `[ -e ${work}/tried ] || { : > ${work}/tried; echo failed >> ${work}/log; exit 3; }; echo second >> ${work}/log`;
    const yaml = manifests(initPod('inits', 'Always', failsOnce), initPod('doomed', 'Never', 'exit 4'));
    expect((await applyFile('inits.yaml', yaml)).code).toBe(0);
    // A pod is not ready while an init container runs (none of these declares a port to wait for).
    await eventually(
      async () =>
        (await status()).pods.find((p) => p.name === 'inits')?.reason ===
        'init container first (1/2) running',
      { timeout: 15_000, what: 'the inits pod not ready while its first init container runs' },
    );
    await eventually(async () => (await status()).pods.find((p) => p.name === 'inits')?.ready, {
      timeout: 20_000,
      what: 'the inits pod running its container',
    });
    const log = await run(
      'local',
      'exec',
      'inits',
      '-n',
      'plain',
      '--name',
      name,
      '--',
      'cat',
      `${work}/log`,
    );
    expect(log.stdout).toBe('first\nfailed\nsecond\nmain\n');
    const doomed = await eventually(
      async () => {
        const pod = (await status()).pods.find((p) => p.name === 'doomed');
        return pod?.state === 'failed' ? pod : undefined;
      },
      { timeout: 20_000, what: 'the doomed pod failed' },
    );
    expect(doomed.reason).toMatch(/^init container second failed; exited with code 4/);
    expect(doomed.restarts).toBe(0);
    expect((await applyFile('inits.yaml', yaml, 'delete')).code).toBe(0);
    await eventually(async () => !(await status()).pods.some((p) => ['inits', 'doomed'].includes(p.name)), {
      timeout: 20_000,
      what: 'the init pods gone',
    });
  });

  it('rolls a changed template out without dropping a request of a client looping over the Service', async () => {
    const service = serviceDoc('echo', { namespace: 'apps' });
    expect((await applyFile('echo.yaml', manifests(echoDeployment(3, 'v1'), service))).code).toBe(0);
    const before = await readyEchoPods('v1', 3);
    await eventually(async () => (await get('http://echo.apps/'))?.version === 'v1', {
      timeout: 15_000,
      what: 'v1 answering',
    });
    const stop = join(shared, 'stop');
    const loop = fromClient('bash', join(shared, 'loop.sh'), stop);
    await eventually(() => existsSync(`${stop}.started`), {
      timeout: 15_000,
      what: 'the loop to get answers',
    });
    const updated = await applyFile('echo.yaml', manifests(echoDeployment(3, 'v2'), service));
    expect(updated.code, updated.stderr).toBe(0);
    const rollout = await local('rollout', 'status', 'deployment/echo', '-n', 'apps', '--timeout', '120');
    expect(rollout.code, rollout.stdout + rollout.stderr).toBe(0);
    expect(rollout.stdout).toContain('deployment "echo" successfully rolled out');
    await eventually(async () => (await get('http://echo.apps/'))?.version === 'v2', {
      timeout: 15_000,
      what: 'v2 answering',
    });
    writeFileSync(stop, '');
    const result = await loop;
    expect(result.code, result.stderr).toBe(0);
    const counts = /ok=(\d+) fail=(\d+)/.exec(result.stdout);
    expect(counts, result.stdout).not.toBeNull();
    expect({ fail: Number(counts![2]), failures: result.stderr.trim() }).toEqual({ fail: 0, failures: '' });
    expect(Number(counts![1])).toBeGreaterThan(10);
    rmSync(stop);
    const after = echoPods(await status());
    expect(after).toHaveLength(3);
    expect(after.filter((pod) => before.some((old) => old.name === pod.name))).toEqual([]);
  });

  it('scales up and down, with the Service following, and restarts every pod', async () => {
    const scaled = await local('scale', 'deployment/echo', '--replicas', '5', '-n', 'apps');
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stdout).toBe('deployment.apps/echo scaled\n');
    await readyEchoPods('v2', 5);
    await eventually(async () => (await status()).services.find((s) => s.name === 'echo')?.pods === 5, {
      what: 'the Service to select 5 pods',
    });
    const seen = new Set<string>();
    await eventually(
      async () => {
        const answer = await get('http://echo.apps/');
        if (answer) seen.add(answer.pod);
        return seen.size >= 4;
      },
      { timeout: 30_000, what: 'answers from most of the 5 pods' },
    );

    expect((await local('scale', 'deployment/echo', '--replicas', '1', '-n', 'apps')).code).toBe(0);
    const [only] = await readyEchoPods('v2', 1);
    await eventually(async () => (await status()).services.find((s) => s.name === 'echo')?.pods === 1, {
      what: 'the Service to select 1 pod',
    });
    await eventually(async () => (await get('http://echo.apps/'))?.pod === only!.name, {
      what: 'the one pod answering',
    });

    const restarted = await local('rollout', 'restart', 'deployment/echo', '-n', 'apps');
    expect(restarted.stdout).toBe('deployment.apps/echo restarted\n');
    expect((await local('rollout', 'status', 'deployment/echo', '-n', 'apps')).code).toBe(0);
    const [replaced] = await readyEchoPods('v2', 1);
    expect(replaced!.name).not.toBe(only!.name);
    const missing = await local('scale', 'deployment/nope', '--replicas', '1', '-n', 'apps');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('deployment apps/nope not found');
  });

  it('leaves out a stored pod whose Namespace is gone and follows every other change', async () => {
    const scratch = manifests(namespaceDoc('scratch'), podDoc('stray', { namespace: 'scratch', node: 'n1' }));
    expect((await applyFile('scratch.yaml', scratch)).code).toBe(0);
    await eventually(async () => (await status()).pods.some((pod) => pod.name === 'stray' && pod.ready), {
      timeout: 30_000,
      what: 'the stray pod running',
    });
    // The Namespace goes, its pod stays stored: one object the cluster cannot run.
    const gone = await applyFile('scratch-ns.yaml', manifests(namespaceDoc('scratch')), 'delete');
    expect(gone.code, gone.stderr).toBe(0);
    const late = await applyFile('late.yaml', manifests(podDoc('late', { namespace: 'apps', node: 'n2' })));
    expect(late.code, late.stderr).toBe(0);
    // The rest is still followed: the new pod runs, and the pod of the gone namespace stops.
    await eventually(
      async () => {
        const pods = (await status()).pods;
        return (
          pods.some((pod) => pod.name === 'late' && pod.ready) && !pods.some((pod) => pod.name === 'stray')
        );
      },
      { timeout: 30_000, what: 'the late pod running and the stray one gone' },
    );
  });
});

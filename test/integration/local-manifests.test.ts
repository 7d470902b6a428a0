/**
 * Ordinary Kubernetes manifests on a real local cluster, driven through the `ambit` CLI: a bookshop shaped
 * like Istio's Bookinfo (stand-ins for its images) with httpbin and a curl client, in a mesh namespace whose
 * ztunnel DNS proxy answers Service names; readiness probes that keep a pod out of its Service until they
 * pass; a liveness probe that has a container restarted; ConfigMap and Secret files inside a pod; and an image
 * without stand-in refused before anything is created.
 */
import { readFileSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit, killAll } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const fixture = (file: string) => fileURLToPath(new URL(`../fixtures/local/${file}`, import.meta.url));

const clusterYaml = (name: string) =>
  [
    `apiVersion: ambit.dev/v1alpha1\nkind: Cluster\nmetadata: {name: ${name}}\nspec:\n  nodes: [{name: n1}, {name: n2}]`,
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}',
  ].join('\n---\n');

/** Two echo pods behind one Service: `gated` is ready only once /tmp/ready exists in its emptyDir. */
const probesYaml = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: open, namespace: shop, labels: {app: web}}
spec:
  containers:
  - name: echo
    command: [ambit, echo, --port, "8080"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: gated, namespace: shop, labels: {app: web}}
spec:
  containers:
  - name: echo
    command: [ambit, echo, --port, "8080"]
    ports: [{containerPort: 8080}]
    readinessProbe:
      exec: {command: [test, -e, /tmp/ready]}
      periodSeconds: 1
      failureThreshold: 1
    volumeMounts: [{name: scratch, mountPath: /tmp}]
  volumes: [{name: scratch, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: fragile, namespace: shop}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: stubborn
    # Ignores SIGTERM (the whole group does), so only the end of the grace period stops it.
    command: [sh, -c, 'rm -f /tmp/die; trap "" TERM; while :; do sleep 1; done']
    livenessProbe:
      exec: {command: [sh, -c, 'test ! -e /tmp/die']}
      periodSeconds: 1
      failureThreshold: 2
    volumeMounts: [{name: scratch, mountPath: /tmp}]
  volumes: [{name: scratch, emptyDir: {}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data:
  app.conf: "colour=teal\\n"
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData:
  password: s3cret-for-the-test
---
apiVersion: v1
kind: Pod
metadata: {name: configured, namespace: shop}
spec:
  containers:
  - name: app
    command: [sleep, infinity]
    volumeMounts:
    - {name: conf, mountPath: /etc/ambit-it-conf}
    - {name: keys, mountPath: /etc/ambit-it-keys}
  volumes:
  - {name: conf, configMap: {name: settings}}
  - {name: keys, secret: {secretName: creds}}`;

describe.runIf(canRunNetnsTests())('Kubernetes manifests on the local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-obj');
  const local = (...args: string[]) => ambit(['local', ...args, '--name', name], { stateRoot: root });
  const inPod = (pod: string, ...command: string[]) =>
    ambit(['local', 'exec', pod, '-n', 'shop', '--name', name, '--', ...command], { stateRoot: root });
  const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
  let report: ClusterReport;
  const podNamed = (prefix: string) => report.pods.find((pod) => pod.name.startsWith(prefix))!;
  const curl = (...args: string[]) => inPod(podNamed('curl-').name, 'curl', '-sS', '-m', '5', ...args);

  beforeAll(async () => {
    const result = await ambit(
      [
        'local',
        'up',
        '-f',
        writeClusterFile(root, name, clusterYaml(name)),
        '-f',
        fixture('bookshop.yaml'),
        '-f',
        fixture('httpbin-curl.yaml'),
        '-f',
        writeClusterFile(root, `${name}-probes`, probesYaml),
      ],
      { stateRoot: root },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('HorizontalPodAutoscaler is accepted but not acted on');
    report = await status();
  }, 90_000);

  afterAll(async () => {
    await ambit(['local', 'down', '--name', name], { stateRoot: root });
    killAll();
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    rmSync(root, { recursive: true, force: true });
  });

  it('runs Deployment pods under Kubernetes-like names with their template hash and identity', () => {
    const reviews = report.pods.filter((pod) => pod.name.startsWith('reviews-'));
    expect(reviews).toHaveLength(3);
    for (const pod of reviews) {
      expect(pod.name).toMatch(
        /^reviews-v[123]-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/,
      );
      expect(pod.serviceAccount).toBe('shop-reviews');
      expect([pod.status, pod.mesh?.state]).toEqual(['Running', 'ambient']);
    }
  });

  it('lists the Deployment pods in `get po`, as the control plane knows them', async () => {
    const listed = await ambit(['get', 'po', '-n', 'shop', '--name', name], { stateRoot: root });
    expect(listed.code, listed.stderr).toBe(0);
    for (const pod of report.pods.filter((p) => p.name.startsWith('reviews-'))) {
      expect(listed.stdout).toMatch(new RegExp(`shop +${pod.name} +reported by node ${pod.node} .*runtime`));
    }
  });

  it('serves the bookshop: the product page shows the reviews of all three versions over many requests', async () => {
    const seen = new Map<string, string>();
    for (let attempt = 0; attempt < 30 && seen.size < 3; attempt++) {
      const page = await curl('http://productpage:9080/productpage');
      expect(page.code, page.stderr).toBe(0);
      expect(page.stdout).toContain('William Shakespeare');
      const servedBy = /Reviews served by: <span class="podname">([^<]+)</.exec(page.stdout)?.[1];
      expect(servedBy).toBeDefined();
      const stars = /<font color="(red|black)">/.exec(page.stdout)?.[1] ?? 'none';
      seen.set(servedBy!.slice(0, 'reviews-v1'.length), stars);
    }
    expect(Object.fromEntries(seen)).toEqual({
      'reviews-v1': 'none',
      'reviews-v2': 'black',
      'reviews-v3': 'red',
    });
  });

  it('serves httpbin behind a Service port that differs from the container port, and propagates headers', async () => {
    const headers = await curl('-H', 'x-request-id: it-123', 'http://httpbin:8000/headers');
    expect(headers.code, headers.stderr).toBe(0);
    expect(JSON.parse(headers.stdout).headers['X-Request-Id']).toBe('it-123');
    const teapot = await curl('-o', '/dev/null', '-w', '%{http_code}', 'http://httpbin.shop:8000/status/418');
    expect(teapot.stdout).toBe('418');
    const api = await curl('-H', 'end-user: jason', 'http://productpage:9080/api/v1/products/0/reviews');
    expect(JSON.parse(api.stdout).reviews).toHaveLength(2);
  });

  it('keeps a pod whose readiness probe fails out of its Service, then lets it in once it passes', async () => {
    /** The pods that answer `count` requests to the Service, each on its own connection (one exec). */
    const responders = async (count: number) => {
      const request = `curl -sS -m 5 -o /dev/null -w '%header{x-echo-pod}\\n' http://web:8080/`;
      const loop = `for i in $(seq ${count}); do ${request} || exit 1; done`;
      const answers = await inPod(podNamed('curl-').name, 'sh', '-c', loop);
      expect(answers.code, answers.stderr).toBe(0);
      const lines = answers.stdout.split('\n').filter(Boolean);
      expect(lines).toHaveLength(count);
      return new Set(lines);
    };
    const gated = (await status()).pods.find((pod) => pod.name === 'gated')!;
    expect([gated.status, gated.ready]).toEqual(['Running', false]);
    expect(gated.reason).toMatch(/^readiness probe failed \(\d+\/1\): test exited 1/);
    expect((await local('status')).stdout).toContain('shop/gated: readiness probe failed');
    expect([...(await responders(12))]).toEqual(['open']);

    const touched = await inPod('gated', 'touch', '/tmp/ready');
    expect(touched.code, touched.stderr).toBe(0);
    await eventually(async () => (await status()).pods.find((pod) => pod.name === 'gated' && pod.ready), {
      what: 'the gated pod ready',
    });
    let both = new Set<string>();
    for (let round = 0; round < 5 && both.size < 2; round++) both = await responders(12);
    expect([...both].sort()).toEqual(['gated', 'open']);
  });

  it('restarts a container whose liveness probe fails, killing it at the end of its grace period, and says why', async () => {
    const before = (await status()).pods.find((pod) => pod.name === 'fragile')!;
    expect([before.ready, before.restarts]).toEqual([true, 0]);
    expect((await inPod('fragile', 'touch', '/tmp/die')).code).toBe(0);
    const restarted = await eventually(
      async () =>
        (await status()).pods.find((pod) => pod.name === 'fragile' && pod.restarts >= 1 && pod.ready),
      { what: 'the fragile pod restarted and ready', timeout: 20_000, interval: 200 },
    );
    expect(restarted.pid).not.toBe(before.pid);
    // SIGTERM was ignored: the supervisor sent SIGKILL once terminationGracePeriodSeconds (1) was over.
    expect(restarted.lastExit?.signal).toBe('SIGKILL');
    const log = readFileSync(`${root}/${name}/logs/supervisor.log`, 'utf8');
    expect(log).toContain('probe failed: restarting');
    expect(log).toMatch(/liveness probe failed \(2\/2\): sh exited 1/);
  });

  it('mounts ConfigMap and Secret keys as read-only files inside the pod', async () => {
    const files = await inPod(
      'configured',
      'sh',
      '-c',
      'cat /etc/ambit-it-conf/app.conf /etc/ambit-it-keys/password',
    );
    expect(files.code, files.stderr).toBe(0);
    expect(files.stdout).toBe('colour=teal\ns3cret-for-the-test');
    const write = await inPod('configured', 'sh', '-c', 'echo x > /etc/ambit-it-conf/new');
    expect(write.code).not.toBe(0);
    // The Secret's bytes never reach the state record, which every user can read.
    expect(readFileSync(`${root}/${name}/cluster.json`, 'utf8')).not.toContain('s3cret-for-the-test');
    // The mesh's copy of the files holds it, and only root may read it.
    expect(statSync(`${root}/${name}/resources.yaml`).mode & 0o077).toBe(0);
  });

  it('refuses an image it has no stand-in for, naming the image and how to give a command, creating nothing', async () => {
    const other = uniqueName('it-img');
    const file = writeClusterFile(
      root,
      other,
      `${clusterYaml(other)}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers: [{name: web, image: docker.io/library/nginx:1.27}]`,
    );
    const result = await ambit(['local', 'up', '-f', file], { stateRoot: root });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'spec.containers[0].image: the local cluster runs no container images and has no stand-in for "docker.io/library/nginx:1.27"',
    );
    expect(result.stderr).toContain('give the program to run as command');
    expect(leftovers(other, root)).toEqual(NOTHING_LEFT);
  });
});

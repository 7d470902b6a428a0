/**
 * Ordinary Kubernetes manifests in cluster files: the fixtures shaped like Istio's samples plan cleanly,
 * volumes become files and mounts, probes and images become what the supervisor runs, node ports are
 * allocated, and a file with many problems reports them all in one pass.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { imageRepositoryName, standInFor } from '../../src/apps/catalogue.ts';
import { ConfigError, formatIssue } from '../../src/core/config/issues.ts';
import { loadClusterFiles } from '../../src/local/cluster-file.ts';
import { containerArgv } from '../../src/local/plan.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-manifests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/local/${name}`, import.meta.url));

const CLUSTER = `apiVersion: ambit.dev/v1alpha1
kind: Cluster
metadata: {name: m1}
spec:
  nodes: [{name: n1}, {name: n2}]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}`;

let fileCount = 0;
function load(...texts: string[]) {
  const files = texts.map((text) => {
    const file = join(dir, `f${fileCount++}.yaml`);
    writeFileSync(file, text);
    return file;
  });
  return loadClusterFiles(files, { stateDirFor: (name) => `/state/${name}`, extensions: [] });
}

function errorsOf(...texts: string[]): string[] {
  try {
    load(...texts);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.issues.filter((i) => i.severity === 'error').map((i) => formatIssue(i));
    }
    throw error;
  }
  return [];
}

const pod = (spec: string, extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
${spec}
${extra}`;

describe('manifests shaped like Istio samples', () => {
  it('plan the bookshop, httpbin and curl with stand-ins, volumes, probes and node ports', () => {
    const clusterFile = join(dir, 'cluster.yaml');
    writeFileSync(clusterFile, CLUSTER);
    const { state, warnings } = loadClusterFiles(
      [clusterFile, fixture('bookshop.yaml'), fixture('httpbin-curl.yaml')],
      { stateDirFor: (name) => `/state/${name}`, extensions: [] },
    );
    expect(warnings.map(formatIssue)).toEqual([
      expect.stringContaining('HorizontalPodAutoscaler is accepted but not acted on by Ambit'),
    ]);
    const byApp = (app: string) => state.pods.filter((p) => p.labels.app === app);
    expect(state.pods).toHaveLength(8);
    expect(byApp('reviews').map((p) => p.container.argv)).toEqual([
      ['ambit', 'app', 'bookinfo-reviews', '--version', 'v1', '--port', '9080'],
      ['ambit', 'app', 'bookinfo-reviews', '--version', 'v2', '--port', '9080'],
      ['ambit', 'app', 'bookinfo-reviews', '--version', 'v3', '--port', '9080'],
    ]);
    expect(byApp('httpbin')[0]!.container.argv).toEqual(['ambit', 'app', 'httpbin', '--port', '8080']);
    expect(byApp('curl')[0]!.container.argv).toEqual(['/bin/sleep', 'infinity']);
    const reviews = byApp('reviews')[0]!;
    expect(reviews.serviceAccount).toBe('shop-reviews');
    expect(reviews.mounts).toEqual([
      { source: `/state/m1/volumes/shop_${reviews.name}/scratch`, mountPath: '/tmp', readOnly: false },
    ]);
    // An optional Secret that does not exist mounts an empty, read-only directory.
    expect(byApp('curl')[0]!.mounts).toEqual([
      expect.objectContaining({ mountPath: '/etc/ambit-it-curl/tls', readOnly: true }),
    ]);
    expect(byApp('curl')[0]!.terminationGracePeriodSeconds).toBe(0);
    const productpage = byApp('productpage')[0]!;
    expect(productpage.container.probes.readiness).toEqual({
      handler: {
        type: 'httpGet',
        path: '/health',
        port: 9080,
        host: productpage.ips[0],
        scheme: 'HTTP',
        headers: [],
      },
      initialDelaySeconds: 0,
      periodSeconds: 1,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    });
    const curlService = state.services.find((s) => s.name === 'curl')!;
    expect(curlService.type).toBe('NodePort');
    expect(curlService.ports[0]!.nodePort).toBe(30000);
  });
});

describe('volumes', () => {
  const configMap = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data:
  app.conf: "mode=fast\\n"
binaryData:
  logo.bin: AAEC`;
  const secret = `apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
type: Opaque
data:
  password: aHVudGVyMg==
stringData:
  user: alice`;
  const mounted = `  containers:
  - name: c
    command: [sleep, infinity]
    volumeMounts:
    - {name: conf, mountPath: /etc/app}
    - {name: keys, mountPath: /etc/keys}
    - {name: scratch, mountPath: /work}
  volumes:
  - name: conf
    configMap:
      name: settings
      items: [{key: app.conf, path: conf/app.conf, mode: 0o600}]
  - name: keys
    secret: {secretName: creds, defaultMode: 0o400}
  - name: scratch
    emptyDir: {medium: Memory, sizeLimit: 64Mi}
  - name: claims
    persistentVolumeClaim: {claimName: data}`;

  it('become files under the state directory, mounted read-only (ConfigMap, Secret) or writable (emptyDir)', () => {
    const { state, volumes, warnings } = load(CLUSTER, configMap, secret, pod(mounted));
    const volumeDir = '/state/m1/volumes/shop_p';
    expect(volumes.files).toEqual([
      {
        path: `${volumeDir}/conf/conf/app.conf`,
        base64: Buffer.from('mode=fast\n').toString('base64'),
        mode: 0o600,
      },
      { path: `${volumeDir}/keys/password`, base64: 'aHVudGVyMg==', mode: 0o400 },
      { path: `${volumeDir}/keys/user`, base64: Buffer.from('alice').toString('base64'), mode: 0o400 },
    ]);
    expect(volumes.directories).toEqual([
      { path: `${volumeDir}/conf`, owner: 0, mode: 0o755 },
      { path: `${volumeDir}/keys`, owner: 0, mode: 0o755 },
      { path: `${volumeDir}/scratch`, owner: 65534, mode: 0o777 },
    ]);
    expect(state.pods[0]!.mounts.map((m) => [m.mountPath, m.readOnly])).toEqual([
      ['/etc/app', true],
      ['/etc/keys', true],
      ['/work', false],
    ]);
    // Secret contents stay out of the state record, which every user can read.
    expect(JSON.stringify(state)).not.toContain('aHVudGVyMg==');
    expect(warnings.map(formatIssue)).toEqual([
      expect.stringContaining(
        'spec.volumes[3]: persistentVolumeClaim volumes are not supported in the local cluster: "claims" is not mounted',
      ),
    ]);
  });

  it.each([
    [
      pod(mounted),
      'spec.volumes[0].configMap: ConfigMap shop/settings is not defined: add it, or set optional: true',
    ],
    [
      pod(mounted.replace('key: app.conf', 'key: nope')),
      'spec.volumes[0].configMap.items[0].key: ConfigMap shop/settings has no key "nope"',
    ],
    [
      pod('  containers: [{name: c, command: [x], volumeMounts: [{name: gone, mountPath: /x}]}]'),
      'spec.containers[0].volumeMounts[0].name: no volume "gone" in spec.volumes',
    ],
    [
      pod(
        '  containers: [{name: c, command: [x], volumeMounts: [{name: v, mountPath: /x, subPathExpr: $(POD_NAME)}]}]\n  volumes: [{name: v, emptyDir: {}}]',
      ),
      'spec.containers[0].volumeMounts[0].subPathExpr: not supported in the local cluster: use subPath',
    ],
    [
      pod(
        '  containers: [{name: c, command: [x], volumeMounts: [{name: v, mountPath: /x, subPath: ../up}]}]\n  volumes: [{name: v, emptyDir: {}}]',
      ),
      'spec.containers[0].volumeMounts[0].subPath: invalid path "../up": must be relative and must not contain ".."',
    ],
    [
      pod(
        '  containers: [{name: c, command: [x], volumeMounts: [{name: v, mountPath: relative}]}]\n  volumes: [{name: v, emptyDir: {}}]',
      ),
      'spec.containers[0].volumeMounts[0].mountPath: invalid value "relative": must be an absolute path',
    ],
    [
      pod(
        '  containers: [{name: c, command: [x]}]\n  volumes: [{name: v, emptyDir: {}, configMap: {name: a}}]',
      ),
      'spec.volumes[0]: configMap and emptyDir are mutually exclusive',
    ],
    [
      pod(
        '  containers: [{name: c, command: [x]}]\n  volumes: [{name: v, configMap: {name: a, items: [{key: k, path: ../up}]}}]',
      ),
      'spec.volumes[0].configMap.items[0].path: invalid path "../up": must be relative',
    ],
  ])('refuse what Kubernetes refuses: %#', (text, message) => {
    const withObjects = message.includes('is not defined')
      ? [CLUSTER, secret, text]
      : [CLUSTER, configMap, secret, text];
    expect(errorsOf(...withObjects).join('\n')).toContain(message);
  });

  it.each([
    ['data: {"bad key": x}', 'data.bad key: invalid key'],
    ['data: {k: x}\nbinaryData: {k: AAEC}', 'binaryData.k: the key is also in data'],
    ['binaryData: {k: "not base64!"}', 'binaryData.k: not valid base64'],
    ['data: {k: 1}', 'data.k: expected a string, got number 1'],
  ])('check ConfigMap data: %j', (body, message) => {
    expect(
      errorsOf(
        CLUSTER,
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n${body}`,
      ).join('\n'),
    ).toContain(message);
  });
});

describe('containers and images', () => {
  it.each([
    ['docker.io/mccutchen/go-httpbin:v2.15.0', 'go-httpbin'],
    ['registry.istio.io/release/examples-bookinfo-details-v1:1.20.3', 'examples-bookinfo-details-v1'],
    ['localhost:5000/curl@sha256:0123', 'curl'],
    ['HTTPBIN', 'httpbin'],
  ])('match %s by its repository name', (image, name) => {
    expect(imageRepositoryName(image)).toBe(name);
  });

  it.each([
    [{ image: 'curlimages/curl:8' }, ['ambit', 'app', 'sleep']],
    [{ image: 'istio/tcp-echo-server:1.3' }, ['ambit', 'app', 'tcp-echo', '9000', 'hello']],
    [
      { image: 'istio/tcp-echo-server:1.3', args: ['9000,9001', 'hi'] },
      ['ambit', 'app', 'tcp-echo', '9000,9001', 'hi'],
    ],
    [{ image: 'istio/tcp-echo-server:1.3', command: ['ambit', 'echo'] }, ['ambit', 'echo']],
    [{ image: 'nginx', command: ['sleep'], args: ['1'] }, ['sleep', '1']],
    [
      { image: 'istio/examples-helloworld-v2' },
      ['ambit', 'app', 'helloworld', '--version', 'v2', '--port', '5000'],
    ],
  ])('run command, args and the stand-in as Kubernetes runs entrypoint and cmd: %j', (container, argv) => {
    expect(containerArgv(container)).toEqual(argv);
  });

  it('has no stand-in for an unknown image', () => {
    expect(standInFor('nginx:1.27')).toBeUndefined();
  });

  it.each([
    ['readinessProbe: {}', 'readinessProbe: needs one handler: httpGet, tcpSocket, exec, grpc'],
    [
      'readinessProbe: {tcpSocket: {port: 1}, exec: {command: [x]}}',
      'readinessProbe: tcpSocket and exec are mutually exclusive',
    ],
    [
      'livenessProbe: {tcpSocket: {port: 1}, successThreshold: 2}',
      'livenessProbe.successThreshold: must be 1 for a liveness probe',
    ],
    [
      'readinessProbe: {httpGet: {port: web}}',
      'readinessProbe.httpGet.port: no container port is named "web"',
    ],
    [
      'readinessProbe: {httpGet: {port: 80, path: health}}',
      'readinessProbe.httpGet.path: invalid value "health": must start with /',
    ],
    ['startupProbe: {grpc: {port: grpc}}', 'startupProbe.grpc.port: expected an integer'],
    ['readinessProbe: {exec: {command: []}}', 'readinessProbe.exec.command: must not be empty'],
    [
      'readinessProbe: {tcpSocket: {port: 1}, periodSeconds: 0}',
      'readinessProbe.periodSeconds: must be at least 1',
    ],
    [
      'readinessProbe: {tcpSocket: {port: 1}, terminationGracePeriodSeconds: 3}',
      'readinessProbe.terminationGracePeriodSeconds: not allowed on a readiness probe',
    ],
  ])('validate probes as Kubernetes does: %j', (probe, message) => {
    const text = pod(`  containers:\n  - name: c\n    command: [x]\n    ${probe}`);
    expect(errorsOf(CLUSTER, text).join('\n')).toContain(`spec.containers[0].${message}`);
  });

  it('accepts securityContext, resources and scheduling fields, and still names unknown fields', () => {
    const accepted = pod(`  containers:
  - name: c
    command: [x]
    resources: {limits: {cpu: "1", memory: 128Mi}, requests: {cpu: 100m}}
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
  securityContext: {fsGroup: 2000, seccompProfile: {type: RuntimeDefault}}
  nodeSelector: {disk: ssd}
  tolerations: [{key: k, operator: Exists}]
  terminationGracePeriodSeconds: 3`);
    expect(errorsOf(CLUSTER, accepted)).toEqual([]);
    expect(
      errorsOf(CLUSTER, pod('  containers: [{name: c, command: [x], resources: {limits: {cpu: lots}}}]')),
    ).toEqual([
      expect.stringContaining(
        'spec.containers[0].resources.limits.cpu: invalid value "lots": must be a quantity',
      ),
    ]);
    expect(errorsOf(CLUSTER, pod('  containers: [{name: c, command: [x]}]\n  hostNetwrk: true'))).toEqual([
      expect.stringContaining('spec.hostNetwrk: unknown field'),
    ]);
  });
});

describe('services', () => {
  const nodePortService = (name: string, port?: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec:
  type: LoadBalancer
  selector: {app: x}
  ports: [{port: 80${port ? `, nodePort: ${port}` : ''}}]`;

  it('allocate free node ports around given ones and refuse a node port given twice', () => {
    const { state } = load(
      CLUSTER,
      nodePortService('a', 30000),
      nodePortService('b'),
      nodePortService('c', 30002),
    );
    expect(state.services.map((s) => [s.name, s.type, s.ports[0]!.nodePort])).toEqual([
      ['a', 'LoadBalancer', 30000],
      ['b', 'LoadBalancer', 30001],
      ['c', 'LoadBalancer', 30002],
    ]);
    expect(errorsOf(CLUSTER, nodePortService('a', 30100), nodePortService('b', 30100))).toEqual([
      expect.stringContaining(
        '(Service shop/b): spec.ports[0].nodePort: 30100/TCP is already the node port of Service shop/a',
      ),
    ]);
  });
});

describe('one pass over a broken file', () => {
  it('reports problems of parsing and of planning together, without echoes of the broken documents', () => {
    const errors = errorsOf(
      CLUSTER,
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: Bad_Name}`,
      pod('  nodeName: n9\n  containers: [{name: c, image: nginx}]'),
      `apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec: {ports: [{port: 0}]}`,
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: broken, namespace: shop}\ndata: {k: 1}`,
      pod(
        '  containers: [{name: c, command: [x], volumeMounts: [{name: v, mountPath: /v}]}]\n  volumes: [{name: v, configMap: {name: broken}}]',
      ).replace('name: p,', 'name: q,'),
      `apiVersion: v1\nkind: Pod\nmetadata: {name: r, namespace: shop}\nspec: {containers: [{name: c, command: [x], colour: red}]}`,
    );
    expect(errors).toEqual([
      expect.stringContaining('document 1 (Namespace Bad_Name): metadata.name: invalid value "Bad_Name"'),
      expect.stringContaining('(Pod shop/p): spec.nodeName: node "n9" does not exist'),
      expect.stringContaining(
        '(Pod shop/p): spec.containers[0].image: the local cluster runs no container images and has no stand-in for "nginx"',
      ),
      expect.stringContaining('(Service shop/s): spec.ports[0].port: must be at least 1'),
      expect.stringContaining('(ConfigMap shop/broken): data.k: expected a string'),
      expect.stringContaining('(Pod shop/r): spec.containers[0].colour: unknown field'),
    ]);
  });
});

describe('YAML syntax errors', () => {
  it('are reported with the schema errors of the other documents in the same run', () => {
    const errors = errorsOf(
      CLUSTER,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed',
      pod('  containers: [{name: c, command: [x], colour: red}]'),
    );
    expect(errors).toEqual([
      expect.stringMatching(/f\d+\.yaml: document 1: YAML syntax error at line 3: Flow sequence/),
      expect.stringMatching(/f\d+\.yaml: document 1: YAML syntax error at line 3: Flow map/),
      expect.stringContaining('(Pod shop/p): spec.containers[0].colour: unknown field'),
    ]);
  });
});

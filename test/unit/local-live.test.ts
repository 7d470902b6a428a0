/**
 * Live objects, by tables over a real plan: a running cluster (planned from a cluster file) compared with
 * the objects stored in its control plane. Unchanged objects change nothing; a new Service gets the lowest
 * free ClusterIP while the old keep theirs; new namespaces and bare pods are added, gone ones removed;
 * a changed Deployment gets its first rollout step and a deleted one loses its pods; waypoint pods are
 * left alone. `ambit apply`'s check refuses what the cluster cannot run with file, document and field, and
 * fills in ClusterIPs keeping the file's comments and document numbers. The CLI's argument parsers too.
 */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { ConfigError, formatIssue } from '../../src/core/config/issues.ts';
import { parseResources } from '../../src/core/config/resource.ts';
import type { StoredResource } from '../../src/core/control-api/types.ts';
import { LOCAL_KINDS } from '../../src/local/cluster-file.ts';
import { prepareLocalApply } from '../../src/local/live/check.ts';
import {
  parseDeploymentRef,
  parseReplicas,
  RESTARTED_AT_ANNOTATION,
  withReplicas,
  withRestartedAt,
} from '../../src/local/live/commands.ts';
import {
  deploymentStrategy,
  liveChanges,
  pinServiceAddresses,
  planLive,
  type StoredDocument,
} from '../../src/local/live/desired.ts';
import { planCluster } from '../../src/local/plan.ts';
import type { ClusterState, PodRecord } from '../../src/local/types.ts';

const CLUSTER = `apiVersion: ambit.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  nodes: [{name: n1}, {name: n2}]`;

const deployment = (name: string, replicas: number, version = 'v1', extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
${extra}  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers: [{name: c, command: [ambit, echo, --version, ${version}], ports: [{name: http, containerPort: 8080}]}]`;

const service = (name: string, extra = '') => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
${extra}  selector: {app: ${name}}
  ports: [{name: http, port: 80, targetPort: http}]`;

const pod = (name: string, namespace = 'default') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  containers: [{name: c, command: [sleep, infinity]}]`;

const FILE = [
  CLUSTER,
  deployment('web', 3),
  service('web'),
  pod('client'),
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}',
];

/** The cluster `up` would make of the file. */
function running(documents: readonly string[]): ClusterState {
  const parsed = parseYamlText(documents.join('\n---\n'), 'cluster.yaml');
  const resources = parseResources(parsed.documents, LOCAL_KINDS);
  const plan = planCluster(resources.resources, { stateDirFor: (n) => `/state/${n}`, extensions: [] });
  if (!plan.state) throw new Error(plan.issues.map(formatIssue).join('\n'));
  return plan.state;
}

/** What the control plane would store: the documents without the Cluster, from `file`. */
function stored(documents: readonly string[], file = 'applied.yaml'): StoredDocument[] {
  return parseYamlText(documents.filter((d) => d !== CLUSTER).join('\n---\n'), file).documents.map(
    ({ value, source }) => ({ document: value, source }),
  );
}

const allReady = () => true;

function changes(cluster: ClusterState, documents: readonly string[], ready = allReady) {
  const live = planLive(cluster, stored(documents));
  expect(live.issues.filter((issue) => issue.severity === 'error').map(formatIssue)).toEqual([]);
  return { live, changes: liveChanges(cluster, live, ready) };
}

const webPods = (cluster: ClusterState) =>
  cluster.pods.filter((p) => p.owner?.name === 'web').map((p) => p.uid);

describe('the objects a running cluster follows', () => {
  const cluster = running(FILE);

  it('changes nothing when the stored objects are the cluster file', () => {
    const { changes: result } = changes(cluster, FILE);
    expect(result.create).toEqual([]);
    expect(result.remove).toEqual([]);
    expect(result.namespaces).toEqual([]);
    expect(result.services.map((s) => [s.name, s.clusterIP])).toEqual([['web', '10.96.0.1']]);
  });

  it('gives a new Service the lowest free ClusterIP and keeps the old one', () => {
    const { changes: result } = changes(cluster, [
      ...FILE,
      service('api'),
      service('dns', '  clusterIP: 10.96.0.2\n'),
    ]);
    expect(result.services.map((s) => [s.name, s.clusterIP])).toEqual([
      ['web', '10.96.0.1'],
      ['api', '10.96.0.3'],
      ['dns', '10.96.0.2'],
    ]);
  });

  it('refuses a ClusterIP another Service holds, naming the document and field', () => {
    const live = planLive(cluster, stored([...FILE, service('api', '  clusterIP: 10.96.0.1\n')]));
    expect(live.issues.map(formatIssue)).toEqual([
      expect.stringMatching(
        /applied\.yaml: document 5 .*spec\.clusterIP: 10\.96\.0\.1 is already the ClusterIP/,
      ),
    ]);
  });

  it('adds new namespaces and bare pods, and removes bare pods that are gone', () => {
    const next = [
      ...FILE.filter((d) => !d.includes('name: client')),
      pod('tool', 'tools'),
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: tools}',
    ];
    const { changes: result } = changes(cluster, next);
    expect(result.namespaces).toEqual([{ name: 'tools', labels: {} }]);
    expect(result.create).toEqual(['tools/tool']);
    expect(result.remove).toEqual(['default/client']);
  });

  it('takes the first rollout step of a changed template: one surge pod, no old pod yet', () => {
    const { changes: result, live } = changes(cluster, [
      ...FILE.filter((d) => !d.includes('Deployment')),
      deployment('web', 3, 'v2'),
    ]);
    expect(result.remove).toEqual([]);
    expect(result.create).toHaveLength(1);
    const hash = live.deployments[0]!.hash;
    expect(result.create[0]).toMatch(new RegExp(`^default/web-${hash}-[a-z0-9]{5}$`));
    expect(webPods(cluster).some((uid) => uid.includes(hash))).toBe(false);
  });

  it('scales a Deployment down by its last pods and up by new ones', () => {
    const down = changes(cluster, [...FILE.filter((d) => !d.includes('Deployment')), deployment('web', 1)]);
    expect(down.changes.remove).toEqual(webPods(cluster).slice(1).reverse());
    const up = changes(cluster, [...FILE.filter((d) => !d.includes('Deployment')), deployment('web', 5)]);
    expect(up.changes.create).toHaveLength(2);
    expect(up.changes.remove).toEqual([]);
  });

  it("removes a deleted Deployment's pods at once, and leaves waypoint pods alone", () => {
    const waypoint: PodRecord = {
      ...cluster.pods[0]!,
      uid: 'default/wp-0',
      name: 'wp-0',
      owner: { kind: 'Gateway', name: 'wp' },
    };
    const withWaypoint = { ...cluster, pods: [...cluster.pods, waypoint] };
    const { changes: result } = changes(
      withWaypoint,
      FILE.filter((d) => !d.includes('Deployment')),
    );
    expect(result.remove.sort()).toEqual(webPods(cluster).sort());
  });

  it('leaves out the objects it cannot run, naming each, and follows the rest', () => {
    const live = planLive(
      cluster,
      stored([...FILE, pod('ghost', 'nowhere'), service('api', '  clusterIP: 10.96.0.1\n'), pod('late')]),
    );
    expect(live.issues.filter((issue) => issue.severity === 'error').map(formatIssue)).toEqual([
      expect.stringMatching(
        /applied\.yaml: document 5 \(Pod nowhere\/ghost\): metadata\.namespace: namespace "nowhere" does not exist/,
      ),
      expect.stringMatching(
        /applied\.yaml: document 6 .*spec\.clusterIP: 10\.96\.0\.1 is already the ClusterIP/,
      ),
    ]);
    const result = liveChanges(cluster, live, allReady);
    expect(result.create).toEqual(['default/late']);
    expect(result.remove).toEqual([]);
    expect(result.services.map((s) => [s.name, s.clusterIP])).toEqual([['web', '10.96.0.1']]);
  });

  it('places a planned pod where the runtime says, with the env and probes of that address', () => {
    const { live, changes: result } = changes(cluster, [...FILE, pod('late')]);
    const node = cluster.nodes[1]!;
    const record = live.plan.podAt!(result.create[0]!, node, '10.244.1.9');
    expect(record).toMatchObject({
      uid: 'default/late',
      node: 'n2',
      ips: ['10.244.1.9'],
      gatewayIP: node.gatewayIP,
    });
    expect(record.container.env).toMatchObject({ POD_IP: '10.244.1.9', NODE_NAME: 'n2' });
  });
});

describe('addresses pinned from the record', () => {
  const recorded = {
    name: 'web',
    namespace: 'default',
    type: 'NodePort' as const,
    labels: {},
    clusterIP: '10.96.0.7',
    ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' as const, nodePort: 30080 }],
    selector: { app: 'web' },
    podUids: [],
  };
  it.each([
    [
      'no ClusterIP: the recorded one',
      { type: 'NodePort', ports: [{ port: 80 }] },
      { clusterIP: '10.96.0.7', ports: [{ port: 80, nodePort: 30080 }] },
    ],
    [
      'a given ClusterIP stays',
      { clusterIP: '10.96.0.9', type: 'NodePort', ports: [{ port: 80 }] },
      { clusterIP: '10.96.0.9' },
    ],
    [
      'a given node port stays',
      { type: 'NodePort', ports: [{ port: 80, nodePort: 30999 }] },
      { ports: [{ port: 80, nodePort: 30999 }] },
    ],
    ['a ClusterIP Service gets no node port', { ports: [{ port: 80 }] }, { ports: [{ port: 80 }] }],
    ['another port gets none', { type: 'NodePort', ports: [{ port: 81 }] }, { ports: [{ port: 81 }] }],
  ])('%s', (_what, spec, expected) => {
    const pinned = pinServiceAddresses({ kind: 'Service', metadata: { name: 'web' }, spec }, recorded) as {
      spec: object;
    };
    expect(pinned.spec).toMatchObject(expected);
  });
});

describe("a Deployment's strategy", () => {
  it.each([
    [undefined, { maxSurge: '25%', maxUnavailable: '25%' }],
    [{ type: 'RollingUpdate' }, { maxSurge: '25%', maxUnavailable: '25%' }],
    [
      { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: '0%' } },
      { maxSurge: 2, maxUnavailable: '0%' },
    ],
    [{ type: 'Recreate' }, { maxSurge: 0, maxUnavailable: '100%' }],
  ])('%j', (strategy, expected) => {
    expect(deploymentStrategy({ spec: strategy === undefined ? {} : { strategy } })).toEqual(expected);
  });
});

describe('ambit apply on a local cluster', () => {
  const cluster = running(FILE);
  const storedResources: StoredResource[] = stored(FILE, 'cluster.yaml').map(({ document, source }) => {
    const value = document as {
      kind: string;
      apiVersion: string;
      metadata: { name: string; namespace?: string };
    };
    return {
      apiVersion: value.apiVersion,
      kind: value.kind,
      name: value.metadata.name,
      namespace: value.metadata.namespace,
      source,
      origin: 'file:resources.yaml',
      document,
    };
  });

  it('refuses what the cluster cannot run, naming file, document and field', () => {
    const content = `${service('api')}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: nowhere}\nspec:\n  containers: [{name: c, command: [sleep, "1"]}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  containers: [{name: c, image: example/unknown}]\n`;
    let error: unknown;
    try {
      prepareLocalApply(cluster, storedResources, [{ name: 'mine.yaml', content }]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map(formatIssue)).toEqual([
      expect.stringMatching(
        /^mine\.yaml: document 2 \(Pod nowhere\/p\): metadata\.namespace: namespace "nowhere" does not exist/,
      ),
      expect.stringMatching(
        /^mine\.yaml: document 3 \(Pod default\/q\): spec\.containers\[0\]\.image: .*no stand-in for "example\/unknown"/,
      ),
    ]);
  });

  it("fills in new and re-applied Services' ClusterIPs, keeping comments and document numbers", () => {
    const content = `# mine\n${service('web')}\n---\n---\n${service('api')} # the API\n`;
    const [file] = prepareLocalApply(cluster, storedResources, [{ name: 'mine.yaml', content }]);
    const documents = parseAllDocuments(file!.content);
    expect(
      documents.map((d) => (d.toJS() as { spec?: { clusterIP?: string } } | null)?.spec?.clusterIP),
    ).toEqual(['10.96.0.1', undefined, '10.96.0.2']);
    expect(file!.content).toContain('# mine');
    expect(file!.content).toContain('# the API');
  });
});

describe('scale and rollout arguments', () => {
  it.each([
    ['deployment/web', 'web'],
    ['deploy/web', 'web'],
    ['deployments/web-1', 'web-1'],
    ['deployment.apps/web', 'web'],
  ])('%s names %s', (text, name) => {
    expect(parseDeploymentRef(text)).toBe(name);
  });
  it.each(['web', 'pod/web', 'deployment/', 'deployment/Web', undefined])('%j is refused', (text) => {
    expect(() => parseDeploymentRef(text)).toThrow(/expected deployment\/<name>/);
  });
  it.each([
    ['0', 0],
    ['3', 3],
    ['1000', 1000],
  ])('--replicas %s', (text, replicas) => {
    expect(parseReplicas(text)).toBe(replicas);
  });
  it.each(['-1', '1.5', 'x', '1001', '', undefined])('--replicas %j is refused', (text) => {
    expect(() => parseReplicas(text)).toThrow(/--replicas takes a whole number/);
  });
  it('scale sets the replicas and restart annotates the template, keeping the rest', () => {
    const document = {
      kind: 'Deployment',
      spec: { replicas: 1, template: { metadata: { labels: { app: 'a' }, annotations: { keep: 'me' } } } },
    };
    expect(withReplicas(document, 4)).toMatchObject({
      spec: { replicas: 4, template: document.spec.template },
    });
    expect(withRestartedAt(document, '2026-01-01T00:00:00.000Z')).toMatchObject({
      spec: {
        replicas: 1,
        template: {
          metadata: {
            labels: { app: 'a' },
            annotations: { keep: 'me', [RESTARTED_AT_ANNOTATION]: '2026-01-01T00:00:00.000Z' },
          },
        },
      },
    });
  });
});

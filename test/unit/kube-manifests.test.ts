/**
 * The Kubernetes manifests: every object `ambit install` applies (the mesh CA included) passes the
 * Kubernetes OpenAPI schema validators of `kubernetes-models`; the rendering is pinned by the golden file
 * deploy/ambit.yaml (what `ambit install --dry-run` prints; regenerate with UPDATE_GOLDEN=1 and review the
 * diff); the Helm chart is made from the same rendering (deploy/helm/ambit, regenerated the same way) and
 * renders to the same objects; and the privileges are the ones the README explains, nothing more. What the waypoint controller
 * deploys for a Gateway passes the same schemas, and its status decision is tabled.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { caObjects } from '../../src/kube/manifests/ca.ts';
import { HELM_EXPRESSIONS, helmChart } from '../../src/kube/manifests/helm.ts';
import { type ManifestObject, manifestsYaml, renderManifests } from '../../src/kube/manifests/render.ts';
import { defaultSettings, type InstallSettings, NAMES } from '../../src/kube/manifests/settings.ts';
import { programmedStatus, waypointObjects } from '../../src/kube/waypoints/render.ts';
import { ambit } from '../support/cli.ts';
import { TestCa } from '../support/test-ca.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The schema validator of each kind the install renders. */
const MODELS: Record<string, { new (data: never): { validate(): void } }> = {
  Namespace,
  ServiceAccount,
  Secret,
  ConfigMap,
  Service,
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
  Deployment,
  DaemonSet,
};

function validate(object: ManifestObject): void {
  const Model = MODELS[object.kind];
  if (!Model) throw new Error(`no schema for ${object.kind}`);
  new Model(object as never).validate();
}

const custom: InstallSettings = {
  namespace: 'mesh-system',
  image: 'registry.example/ambit:1.2.3',
  trustDomain: 'example.org',
  cniBinDir: '/var/lib/cni/bin',
  cniConfDir: '/var/lib/cni/net.d',
};

describe('the rendered manifests', () => {
  const ca = new TestCa();
  it.each([
    ['the defaults', defaultSettings(VERSION)],
    ['custom settings', custom],
  ])('pass the Kubernetes schemas, with %s', (_, settings) => {
    const objects = [...renderManifests(settings), ...caObjects(settings, ca)];
    expect(objects.map((o) => o.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'ServiceAccount',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Role',
      'RoleBinding',
      'ClusterRole',
      'ClusterRoleBinding',
      'Role',
      'RoleBinding',
      'Deployment',
      'Service',
      'DaemonSet',
      'DaemonSet',
      'Secret',
      'ConfigMap',
    ]);
    for (const object of objects)
      expect(() => validate(object), `${object.kind} ${object.metadata.name}`).not.toThrow();
    for (const object of objects.filter(
      (o) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind),
    )) {
      expect(object.metadata.namespace).toBe(settings.namespace);
    }
  });

  it('the validator does refuse a broken object (the check above can fail)', () => {
    const [deployment] = renderManifests(defaultSettings(VERSION)).filter((o) => o.kind === 'Deployment');
    const broken = structuredClone(deployment!) as { spec: { selector?: unknown } } & ManifestObject;
    delete broken.spec.selector;
    expect(() => validate(broken)).toThrow(/selector/);
  });

  it('are what deploy/ambit.yaml holds, and what `ambit install --dry-run` prints', async () => {
    const yaml = manifestsYaml(renderManifests(defaultSettings(VERSION)), VERSION);
    const file = new URL('../../deploy/ambit.yaml', import.meta.url);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, yaml);
    expect(yaml).toBe(readFileSync(file, 'utf8'));
    const printed = await ambit(['install', '--dry-run']);
    expect([printed.code, printed.stdout]).toEqual([0, yaml]);
    expect(parseAllDocuments(yaml).map((doc) => doc.toJS() as ManifestObject)).toEqual(
      renderManifests(defaultSettings(VERSION)),
    );
  });
});

describe('the Helm chart', () => {
  const chartDir = new URL('../../deploy/helm/ambit/', import.meta.url);
  const files = helmChart(VERSION);
  const read = (path: string) => readFileSync(new URL(path, chartDir), 'utf8');
  const template = () => read('templates/ambit.yaml');

  /**
   * What `helm template --namespace NS --set ...` makes of the template: every `{{ ... }}` in it is one of the
   * plain substitutions below (checked first), which is all Helm's engine does with them.
   */
  const helmTemplate = (text: string, settings: InstallSettings) => {
    const values: Record<string, string> = {
      [HELM_EXPRESSIONS.namespace]: settings.namespace,
      [HELM_EXPRESSIONS.image]: settings.image,
      [HELM_EXPRESSIONS.trustDomain]: settings.trustDomain,
      [HELM_EXPRESSIONS.cniBinDir]: settings.cniBinDir,
      [HELM_EXPRESSIONS.cniConfDir]: settings.cniConfDir,
    };
    return text.replace(/\{\{[^}]*\}\}/g, (expression) => {
      const value = values[expression];
      if (value === undefined)
        throw new Error(`the chart holds an expression the test does not know: ${expression}`);
      return value;
    });
  };

  it('is what deploy/helm/ambit holds, and what `ambit install --helm-chart` writes', async () => {
    if (process.env.UPDATE_GOLDEN === '1') {
      for (const file of files) {
        mkdirSync(dirname(fileURLToPath(new URL(file.path, chartDir))), { recursive: true });
        writeFileSync(new URL(file.path, chartDir), file.content);
      }
    }
    for (const file of files) expect(read(file.path), file.path).toBe(file.content);
    const out = mkdtempSync(join(tmpdir(), 'ambit-helm-chart-'));
    try {
      expect((await ambit(['install', '--helm-chart', out])).code).toBe(0);
      for (const file of files)
        expect(readFileSync(join(out, file.path), 'utf8'), file.path).toBe(file.content);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it.each([
    ['the chart defaults', { ...defaultSettings(VERSION), namespace: 'ambit-system' }],
    ['custom values', custom],
  ])(
    'renders, with %s, the very objects `ambit install` applies but the Namespace, each schema-valid',
    (_, settings) => {
      const rendered = parseAllDocuments(helmTemplate(template(), settings)).map(
        (doc) => doc.toJS() as ManifestObject,
      );
      expect(rendered).toEqual(renderManifests(settings).slice(1));
      for (const object of rendered)
        expect(() => validate(object), `${object.kind} ${object.metadata.name}`).not.toThrow();
    },
  );

  it("values.yaml holds `ambit install`'s defaults, and the values schema refuses what the YAML cannot carry", () => {
    const values = parseAllDocuments(read('values.yaml'))[0]!.toJS() as Record<string, unknown>;
    const defaults = defaultSettings(VERSION);
    expect(values).toEqual({
      image: defaults.image,
      trustDomain: defaults.trustDomain,
      cni: { binDir: defaults.cniBinDir, confDir: defaults.cniConfDir },
    });
    const check = new Ajv({ strict: true }).compile(JSON.parse(read('values.schema.json')));
    expect(check(values)).toBe(true);
    expect(check({ ...values, image: 'registry.example/ambit:1.2.3' })).toBe(true);
    for (const bad of [
      { ...values, image: 'ambit:1" injected: "x' },
      { ...values, image: '{{ .Values.other }}' },
      { ...values, trustDomain: 'Example.ORG' },
      { ...values, cni: { binDir: 'opt/cni/bin', confDir: '/etc/cni/net.d' } },
      { ...values, replicas: 3 },
      { image: 'ambit:1' },
    ]) {
      expect(check(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('privileges', () => {
  const objects = renderManifests(defaultSettings(VERSION));
  const find = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name)!;
  type Pod = {
    hostNetwork?: boolean;
    containers: Array<{
      securityContext: {
        capabilities?: { add?: string[]; drop?: string[] };
        readOnlyRootFilesystem?: boolean;
        runAsUser?: number;
        privileged?: boolean;
        allowPrivilegeEscalation?: boolean;
      };
    }>;
    volumes?: Array<{ name: string; hostPath?: { path: string } }>;
  };
  const podOf = (object: ManifestObject) =>
    (object as unknown as { spec: { template: { spec: Pod } } }).spec.template.spec;

  it('ztunnel: not host network, root, read-only root, exactly NET_ADMIN, SYS_ADMIN and NET_RAW, node-critical', () => {
    const pod = podOf(find('DaemonSet', NAMES.ztunnel));
    expect(pod.hostNetwork).toBeUndefined();
    const [container] = pod.containers;
    expect(container!.securityContext).toMatchObject({
      privileged: false,
      runAsUser: 0,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW'] },
    });
    expect((pod as { priorityClassName?: string }).priorityClassName).toBe('system-node-critical');
    expect(pod.volumes!.filter((v) => v.hostPath).map((v) => v.hostPath!.path)).toEqual([
      '/var/run/ambit',
      '/var/run/netns',
    ]);
  });

  it('CNI node agent: host network but not host PID, SYS_ADMIN only, the pinned namespaces read-only', () => {
    const pod = podOf(find('DaemonSet', NAMES.cniNode));
    expect(pod.hostNetwork).toBe(true);
    expect((pod as { hostPID?: boolean }).hostPID).toBeUndefined();
    expect(pod.containers[0]!.securityContext).toMatchObject({
      privileged: false,
      capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] },
    });
    expect(pod.volumes!.map((v) => v.hostPath?.path)).toEqual([
      '/opt/cni/bin',
      '/etc/cni/net.d',
      '/opt/ambit',
      '/var/run/netns',
    ]);
    // Both DaemonSets see the runtime's pinned namespaces at one path, so a path one sends the other opens.
    const mounts = (object: ManifestObject) =>
      (
        object as unknown as {
          spec: {
            template: { spec: { containers: Array<{ volumeMounts: Array<Record<string, unknown>> }> } };
          };
        }
      ).spec.template.spec.containers[0]!.volumeMounts.find((m) => m.name === 'netns');
    const expected = {
      name: 'netns',
      mountPath: '/var/run/netns',
      mountPropagation: 'HostToContainer',
      readOnly: true,
    };
    expect(mounts(find('DaemonSet', NAMES.cniNode))).toEqual(expected);
    expect(mounts(find('DaemonSet', NAMES.ztunnel))).toEqual(expected);
    // Read-only API access: one pod for ADD, the node's pods for the reconcile.
    expect((find('ClusterRole', NAMES.cniNode) as unknown as { rules: unknown }).rules).toEqual([
      { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list'] },
    ]);
  });

  it('control plane: non-root, no capabilities', () => {
    const [container] = podOf(find('Deployment', NAMES.control)).containers;
    expect(container!.securityContext).toMatchObject({
      runAsUser: 1337,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
    });
  });

  it('RBAC: no wildcards; secrets only by name in the own namespace; the ztunnel is bound to nothing', () => {
    const rules = objects
      .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
      .flatMap((o) =>
        (
          o as unknown as { rules: Array<{ resources: string[]; verbs: string[]; resourceNames?: string[] }> }
        ).rules.map((rule) => ({ role: `${o.kind}/${o.metadata.name}`, ...rule })),
      );
    for (const rule of rules) {
      expect([...rule.resources, ...rule.verbs]).not.toContain('*');
    }
    expect(rules.filter((rule) => rule.resources.includes('secrets'))).toEqual([
      {
        role: `Role/${NAMES.control}`,
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [NAMES.caSecret],
        verbs: ['get', 'watch', 'update'],
      },
    ]);
    expect(rules.filter((rule) => rule.resources.includes('tokenreviews')).map((rule) => rule.role)).toEqual([
      `ClusterRole/${NAMES.control}`,
    ]);
    const subjects = objects
      .filter((o) => o.kind.endsWith('Binding'))
      .flatMap((o) => (o as unknown as { subjects: Array<{ name: string }> }).subjects.map((s) => s.name));
    expect(subjects).not.toContain(NAMES.ztunnel);
  });
});

describe('what the waypoint controller deploys', () => {
  const gateway = {
    name: 'waypoint',
    namespace: 'shop',
    uid: 'uid-1',
    infrastructure: { labels: { team: 'shop' }, annotations: { note: 'x' } },
  };
  const settings = {
    image: 'ambit:1',
    control: 'ambit-control.ambit-system.svc:15012',
    trustDomain: 'cluster.local',
    rootCertPem: new TestCa().certPem,
  };

  it('passes the Kubernetes schemas, every object in the Gateway namespace and owned by it', () => {
    const objects = waypointObjects(gateway, settings);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/waypoint',
      'ConfigMap/waypoint-ambit-root-cert',
      'Deployment/waypoint',
      'Service/waypoint',
    ]);
    for (const object of objects) {
      expect(() => validate(object), object.kind).not.toThrow();
      expect(object.metadata).toMatchObject({
        namespace: 'shop',
        labels: { team: 'shop', 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
        annotations: { note: 'x' },
        ownerReferences: [{ kind: 'Gateway', name: 'waypoint', uid: 'uid-1' }],
      });
    }
  });

  const service = { clusterIPs: ['10.96.0.9'], hostname: 'waypoint.shop.svc.cluster.local' };
  const now = new Date('2026-01-01T00:00:00Z');
  const programmed = programmedStatus(undefined, service, 1, now)!;

  it.each<[string, Parameters<typeof programmedStatus>, 'write' | 'none']>([
    ['no status yet', [undefined, service, 1, now], 'write'],
    ['already Programmed for this generation and address', [programmed, service, 1, now], 'none'],
    ['a newer generation', [programmed, service, 2, now], 'write'],
    ['another address', [programmed, { ...service, clusterIPs: ['10.96.0.10'] }, 1, now], 'write'],
  ])('%s: %s', (_, args, expected) => {
    expect(programmedStatus(...args) === undefined ? 'none' : 'write').toBe(expected);
  });

  it('keeps the conditions others own, and names the DNS name when the Service has no cluster IP', () => {
    const accepted = { type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: 'ok' };
    const status = programmedStatus({ conditions: [accepted] }, { ...service, clusterIPs: [] }, 3, now);
    expect(status?.addresses).toEqual([{ type: 'Hostname', value: 'waypoint.shop.svc.cluster.local' }]);
    expect(status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
      'Accepted=True',
      'Programmed=True',
    ]);
    expect(status?.conditions?.[1]).toMatchObject({
      observedGeneration: 3,
      lastTransitionTime: now.toISOString(),
    });
  });
});

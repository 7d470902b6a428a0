import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { ConfigError, formatIssue } from '../../src/core/config/issues.ts';
import { parseResources } from '../../src/core/config/resource.ts';
import { LOCAL_KINDS, loadClusterFiles } from '../../src/local/cluster-file.ts';
import { planCluster } from '../../src/local/plan.ts';
import { resolvedConfig } from '../../src/local/resolved-config.ts';

const CLUSTER = `apiVersion: ambit.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  nodes: [{name: n1}, {name: n2}]`;

const pod = (name: string, extra = '', namespace = 'default') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${namespace}, labels: {app: ${name}}}
spec:
${extra}  containers: [{name: c, command: [sleep, infinity]}]`;

function plan(documents: string[], name?: string) {
  const parsed = parseYamlText(documents.join('\n---\n'), 'c.yaml');
  const resources = parseResources(parsed.documents, LOCAL_KINDS);
  // As cluster files are read: the plan runs even when documents failed, told which ones.
  const failed = resources.issues.flatMap((i) => (i.severity === 'error' && i.resource ? [i.resource] : []));
  const result = planCluster(resources.resources, {
    name,
    stateDirFor: (n) => `/state/${n}`,
    extensions: [],
    now: new Date(0),
    failed,
  });
  const issues = [...parsed.issues, ...resources.issues, ...result.issues];
  return {
    state: result.state,
    errors: issues.filter((i) => i.severity === 'error').map(formatIssue),
    warnings: issues.filter((i) => i.severity === 'warning').map(formatIssue),
  };
}

describe('the Cluster document', () => {
  it('defaults the address ranges and derives node addresses in node order', () => {
    const { state, errors } = plan([CLUSTER]);
    expect(errors).toEqual([]);
    expect(state!.addresses).toEqual({
      podCIDR: '10.244.0.0/16',
      serviceCIDR: '10.96.0.0/16',
      underlayCIDR: '10.250.0.0/24',
      dnsVIP: '10.96.0.10',
    });
    expect(state!.nodes.map((n) => [n.name, n.underlayIP, n.podCIDR, n.gatewayIP, n.netns])).toEqual([
      ['n1', '10.250.0.1', '10.244.0.0/24', '10.244.0.1', 'ambit.c1.node.n1'],
      ['n2', '10.250.0.2', '10.244.1.0/24', '10.244.1.1', 'ambit.c1.node.n2'],
    ]);
    expect(state!.fabric.netns).toBe('ambit.c1.fabric');
    expect(state!.stateDir).toBe('/state/c1');
  });

  it('takes custom ranges', () => {
    const { state, errors } = plan([
      `${CLUSTER}\n  podCIDR: 172.20.0.0/22\n  serviceCIDR: 172.21.0.0/24\n  underlayCIDR: 172.22.0.0/29`,
    ]);
    expect(errors).toEqual([]);
    expect(state!.nodes.map((n) => [n.podCIDR, n.underlayIP])).toEqual([
      ['172.20.0.0/24', '172.22.0.1'],
      ['172.20.1.0/24', '172.22.0.2'],
    ]);
    expect(state!.addresses.dnsVIP).toBe('172.21.0.10');
  });

  it.each([
    [
      '  podCIDR: 10.244.0.1/16',
      'spec.podCIDR: invalid CIDR "10.244.0.1/16": host bits are set (did you mean 10.244.0.0/16?)',
    ],
    [
      '  podCIDR: 10.244.0.0/25',
      'spec.podCIDR: 10.244.0.0/25 holds 0 node subnet(s) of /24 but spec.nodes lists 2',
    ],
    [
      '  podCIDR: 10.244.0.0/24',
      'spec.podCIDR: 10.244.0.0/24 holds 1 node subnet(s) of /24 but spec.nodes lists 2',
    ],
    ['  serviceCIDR: 10.96.0.0/29', 'spec.serviceCIDR: 10.96.0.0/29 is too small'],
    ['  underlayCIDR: 10.250.0.0/31', 'spec.underlayCIDR: 10.250.0.0/31 has room for 0 node(s), not 2'],
    [
      '  serviceCIDR: 10.244.128.0/20',
      'spec.serviceCIDR: 10.244.128.0/20 overlaps spec.podCIDR 10.244.0.0/16',
    ],
    ['  podCIDR: 127.0.0.0/16', 'spec.podCIDR: 127.0.0.0/16 overlaps 127.0.0.0/8 (loopback)'],
    [
      '  underlayCIDR: 169.254.0.0/24',
      'spec.underlayCIDR: 169.254.0.0/24 overlaps 169.254.0.0/16 (link-local',
    ],
    ['  podCIDR: banana', 'spec.podCIDR: invalid CIDR "banana"'],
  ])('rejects %j', (line, message) => {
    expect(plan([`${CLUSTER}\n${line}`]).errors.join('\n')).toContain(
      `c.yaml: document 1 (Cluster c1): ${message}`,
    );
  });

  it('rejects duplicate and malformed node names, and bad cluster names', () => {
    const duplicate = CLUSTER.replace('{name: n2}', '{name: n1}');
    expect(plan([duplicate]).errors).toEqual([
      'c.yaml: document 1 (Cluster c1): spec.nodes[1].name: duplicate node name "n1"',
    ]);
    expect(plan([CLUSTER.replace('{name: n2}', '{name: n.2}')]).errors[0]).toContain(
      'spec.nodes[1].name: invalid value "n.2"',
    );
    expect(plan([CLUSTER.replace('name: c1', `name: ${'x'.repeat(40)}`)]).errors[0]).toContain(
      'metadata.name: invalid cluster name',
    );
    expect(plan([CLUSTER], 'Bad_Name').errors[0]).toContain('(given with --name)');
  });

  it('needs exactly one Cluster document', () => {
    expect(plan([pod('a')]).errors).toEqual([
      'c.yaml: document 1: no Cluster document: add one (apiVersion: ambit.dev/v1alpha1, kind: Cluster) listing spec.nodes',
    ]);
    expect(plan([CLUSTER, CLUSTER.replace('name: c1', 'name: c2')]).errors).toEqual([
      'c.yaml: document 2 (Cluster c2): a cluster file holds one Cluster document; the first is in c.yaml document 1',
    ]);
  });
});

describe('pods', () => {
  it('places pinned pods, spreads the others over the least-loaded node, and allocates IPs per node', () => {
    const { state, errors } = plan([
      CLUSTER,
      pod('a', '  nodeName: n1\n'),
      pod('b'),
      pod('c'),
      pod('d', '  nodeName: n2\n'),
      pod('e'),
    ]);
    expect(errors).toEqual([]);
    expect(state!.pods.map((p) => [p.name, p.node, p.ips[0]])).toEqual([
      ['a', 'n1', '10.244.0.2'],
      ['b', 'n1', '10.244.0.3'],
      ['c', 'n2', '10.244.1.2'],
      ['d', 'n2', '10.244.1.3'],
      ['e', 'n1', '10.244.0.4'],
    ]);
  });

  it('keeps a complete record: identity, user, netns, veth, resolved env and argv', () => {
    const { state } = plan([
      CLUSTER,
      `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  serviceAccountName: web-sa
  containers:
    - name: c
      command: [ambit, echo]
      args: [--host, $(POD_IP), --version, $(VERSION)]
      env:
        - {name: VERSION, value: v2}
        - {name: WHERE, value: "$(VERSION)@$(NODE)"}
        - name: NODE
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
        - name: HOST_IP
          valueFrom: {fieldRef: {fieldPath: status.hostIP}}`,
    ]);
    const web = state!.pods[0]!;
    expect(web).toMatchObject({
      uid: 'default/web',
      node: 'n1',
      ips: ['10.244.0.2'],
      serviceAccount: 'web-sa',
      labels: { app: 'web' },
      netns: 'ambit.c1.pod.default.web',
      netnsPath: '/run/netns/ambit.c1.pod.default.web',
      gatewayIP: '10.244.0.1',
      runAsUser: 65534,
      runAsGroup: 65534,
      restartPolicy: 'Always',
    });
    expect(web.hostVeth).toMatch(/^veth[0-9a-f]{10}$/);
    expect(web.container.argv).toEqual(['ambit', 'echo', '--host', '10.244.0.2', '--version', 'v2']);
    expect(web.container.env).toEqual({
      VERSION: 'v2',
      // NODE is defined after WHERE, so (as in Kubernetes) WHERE keeps the reference as written.
      WHERE: 'v2@$(NODE)',
      NODE: 'n1',
      HOST_IP: '10.250.0.1',
      POD_NAME: 'web',
      POD_NAMESPACE: 'default',
      POD_IP: '10.244.0.2',
      NODE_NAME: 'n1',
    });
  });

  it('runs as root only when asked, and takes the group from runAsGroup or the user', () => {
    const { state } = plan([
      CLUSTER,
      pod('root', '  securityContext: {runAsUser: 0}\n'),
      pod('u1000', '  securityContext: {runAsUser: 1000}\n'),
      pod('g', '  securityContext: {runAsUser: 1000, runAsGroup: 2000}\n'),
    ]);
    expect(state!.pods.map((p) => [p.name, p.runAsUser, p.runAsGroup])).toEqual([
      ['root', 0, 0],
      ['u1000', 1000, 1000],
      ['g', 1000, 2000],
    ]);
  });

  it('expands Deployments into <name>-<hash>-<suffix> pods with the template labels, pod-template-hash and an owner', () => {
    const { state, errors } = plan([
      CLUSTER,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers: [{name: c, command: [ambit, echo]}]`,
    ]);
    expect(errors).toEqual([]);
    const hash = state!.pods[0]!.labels['pod-template-hash']!;
    expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
    expect(
      state!.pods.map((p) => [p.node, p.labels.app, p.labels['pod-template-hash'], p.owner?.name]),
    ).toEqual([
      ['n1', 'echo', hash, 'echo'],
      ['n2', 'echo', hash, 'echo'],
      ['n1', 'echo', hash, 'echo'],
    ]);
    const names = state!.pods.map((p) => p.name);
    for (const name of names)
      expect(name).toMatch(new RegExp(`^echo-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
    expect(new Set(names).size).toBe(3);
  });

  it('keeps pod names for an unchanged template and changes them with the template', () => {
    const deployment = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: ${image}, command: [sleep, infinity]}]`;
    const first = plan([CLUSTER, deployment('a:1')]).state!.pods[0]!.name;
    expect(plan([CLUSTER, deployment('a:1')]).state!.pods[0]!.name).toBe(first);
    expect(plan([CLUSTER, deployment('a:2')]).state!.pods[0]!.name).not.toBe(first);
  });

  it('names file, document and field for each cross-document error', () => {
    const { errors } = plan([
      CLUSTER,
      pod('a', '  nodeName: n3\n'),
      pod('b', '', 'nowhere'),
      `apiVersion: v1
kind: Pod
metadata: {name: nocmd}
spec:
  containers: [{name: c, image: nginx}]`,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replicas: 1
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: c, args: [--port, "1"]}]`,
    ]);
    expect(errors).toEqual([
      'c.yaml: document 2 (Pod default/a): spec.nodeName: node "n3" does not exist: the Cluster\'s nodes are n1, n2',
      'c.yaml: document 3 (Pod nowhere/b): metadata.namespace: namespace "nowhere" does not exist: add a Namespace document for it',
      expect.stringMatching(
        /^c\.yaml: document 4 \(Pod default\/nocmd\): spec\.containers\[0\]\.image: the local cluster runs no container images and has no stand-in for "nginx" \(stand-ins: curl, sleep, httpbin, .*\): give the program to run as command \(e\.g\. command: \[ambit, echo, --port, "8080"\]\)$/,
      ),
      'c.yaml: document 5 (Deployment default/x): spec.template.spec.containers[0].command: required in the local cluster: there is no container image to provide an entrypoint, so give the program to run (e.g. [ambit, echo, --port, "8080"])',
    ]);
  });

  it("reports duplicate names, also between a Pod and a Deployment's pod", () => {
    expect(plan([CLUSTER, pod('a'), pod('a')]).errors).toEqual([
      'c.yaml: document 3 (Pod default/a): metadata.name: duplicate Pod default/a: first defined in c.yaml document 2',
    ]);
    const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, command: [x]}]`;
    const taken = plan([CLUSTER, deployment]).state!.pods[0]!.name;
    const { errors } = plan([CLUSTER, pod(taken), deployment]);
    expect(errors).toEqual([
      `c.yaml: document 3 (Deployment default/web): metadata.name: duplicate Pod default/${taken}: Pod default/${taken} (c.yaml document 2) already creates it (Deployment pods are named <deployment>-<template hash>-<suffix>)`,
    ]);
  });

  it('rejects unknown kinds naming the document and the known kinds', () => {
    const { errors } = plan([CLUSTER, 'apiVersion: v1\nkind: Widget\nmetadata: {name: x}\ndata: {}']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^c\.yaml: document 2: kind: unknown kind "Widget": known kinds are Cluster, Namespace, Pod, Deployment, Service, ServiceAccount, ConfigMap, Secret,/,
    );
  });

  it('accepts well-known kinds it does not run with a warning', () => {
    const { state, errors, warnings } = plan([
      CLUSTER,
      'apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec: {maxReplicas: 3, scaleTargetRef: {kind: Deployment, name: web}}',
    ]);
    expect(errors).toEqual([]);
    expect(state).toBeDefined();
    expect(warnings).toEqual([
      'warning: c.yaml: document 2 (HorizontalPodAutoscaler default/web): kind: HorizontalPodAutoscaler is accepted but not acted on by Ambit: the document is ignored',
    ]);
  });

  it('keeps mesh kinds without letting them affect the cluster', () => {
    const { state, errors } = plan([
      CLUSTER,
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny, namespace: default}\nspec: {}',
    ]);
    expect(errors).toEqual([]);
    expect(state!.pods).toEqual([]);
  });
});

describe('env from ConfigMaps and Secrets', () => {
  const OBJECTS = [
    `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {MODE: fast, LEVEL: "3", greeting: "$(MODE) hello"}`,
    `apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: default}
data: {password: c2VjcmV0}
stringData: {MODE: from-secret}`,
  ];
  const withEnv = (env: string) => `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  containers:
    - name: c
      command: [ambit, echo]
${env}`;
  const envOf = (env: string) => {
    const { state, errors } = plan([CLUSTER, ...OBJECTS, withEnv(env)]);
    expect(errors).toEqual([]);
    const {
      POD_NAME: _n,
      POD_NAMESPACE: _ns,
      POD_IP: _ip,
      NODE_NAME: _node,
      ...rest
    } = state!.pods[0]!.container.env;
    return rest;
  };

  it.each([
    [
      'a ConfigMap key and a Secret key, taken as they are (never $(VAR)-expanded)',
      `      env:
        - {name: MODE, value: slow}
        - name: G
          valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: creds, key: password}}`,
      { MODE: 'slow', G: '$(MODE) hello', PASSWORD: 'secret' },
    ],
    [
      'envFrom in order, a later source winning, env winning over all, prefixes',
      `      envFrom:
        - configMapRef: {name: settings}
        - secretRef: {name: creds}
        - {prefix: CM_, configMapRef: {name: settings}}
      env:
        - {name: LEVEL, value: "$(MODE)!"}`,
      {
        MODE: 'from-secret',
        LEVEL: 'from-secret!',
        greeting: '$(MODE) hello',
        password: 'secret',
        CM_MODE: 'fast',
        CM_LEVEL: '3',
        CM_greeting: '$(MODE) hello',
      },
    ],
    [
      'optional references to missing objects and keys: left out',
      `      envFrom:
        - configMapRef: {name: nowhere, optional: true}
      env:
        - name: A
          valueFrom: {configMapKeyRef: {name: settings, key: nokey, optional: true}}
        - name: B
          valueFrom: {secretKeyRef: {name: nowhere, key: k, optional: true}}
        - name: C
          valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}`,
      { C: 'default' },
    ],
  ])('%s', (_what, env, expected) => {
    expect(envOf(env)).toEqual(expected);
  });

  it.each([
    [
      `      env:
        - name: A
          valueFrom: {configMapKeyRef: {name: nowhere, key: k}}`,
      'c.yaml: document 4 (Pod default/web): spec.containers[0].env[0].valueFrom.configMapKeyRef: ConfigMap default/nowhere is not defined: add it, or set optional: true to start without it',
    ],
    [
      `      env:
        - name: A
          valueFrom: {secretKeyRef: {name: creds, key: user}}`,
      'c.yaml: document 4 (Pod default/web): spec.containers[0].env[0].valueFrom.secretKeyRef.key: Secret default/creds has no key "user"',
    ],
    [
      `      envFrom:
        - secretRef: {name: nowhere}`,
      'c.yaml: document 4 (Pod default/web): spec.containers[0].envFrom[0].secretRef: Secret default/nowhere is not defined: add it, or set optional: true to start without it',
    ],
  ])('refuses a missing reference: %s', (env, message) => {
    expect(plan([CLUSTER, ...OBJECTS, withEnv(env)]).errors).toEqual([message]);
  });

  it('does not report a reference to an object whose own document failed', () => {
    const broken = `apiVersion: v1
kind: ConfigMap
metadata: {name: nowhere, namespace: default}
data: [not, a, map]`;
    const env = `      envFrom:
        - configMapRef: {name: nowhere}`;
    const { errors } = plan([CLUSTER, ...OBJECTS, broken, withEnv(env)]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('document 4 (ConfigMap default/nowhere): data');
  });
});

describe('init containers', () => {
  it('records each with its argv, env and mounts, in order', () => {
    const { state, errors } = plan([
      CLUSTER,
      `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {MODE: fast}`,
      `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  volumes: [{name: work, emptyDir: {}}, {name: conf, configMap: {name: settings}}]
  initContainers:
    - name: fetch
      command: [sh, -c, "echo $(MODE) > /work/mode"]
      envFrom: [{configMapRef: {name: settings}}]
      volumeMounts: [{name: work, mountPath: /work}, {name: conf, mountPath: /conf}]
    - {name: check, image: curlimages/curl, args: [-s, "http://$(POD_IP)/"], workingDir: /tmp}
  containers:
    - name: c
      command: [sleep, infinity]
      volumeMounts: [{name: work, mountPath: /data, readOnly: true}]`,
    ]);
    expect(errors).toEqual([]);
    const web = state!.pods[0]!;
    expect(web.mounts).toEqual([
      { source: '/state/c1/volumes/default_web/work', mountPath: '/data', readOnly: true },
    ]);
    expect(web.initContainers!.map(({ env: _env, ...init }) => init)).toEqual([
      {
        name: 'fetch',
        argv: ['sh', '-c', 'echo fast > /work/mode'],
        workingDir: '/',
        mounts: [
          { source: '/state/c1/volumes/default_web/work', mountPath: '/work', readOnly: false },
          { source: '/state/c1/volumes/default_web/conf', mountPath: '/conf', readOnly: true },
        ],
      },
      { name: 'check', argv: expect.any(Array), workingDir: '/tmp', mounts: [] },
    ]);
    // The stand-in's entrypoint, then the args (expanded) in place of its default ones.
    expect(web.initContainers![1]!.argv.slice(-2)).toEqual(['-s', 'http://10.244.0.2/']);
    expect(web.initContainers![0]!.env).toMatchObject({ MODE: 'fast', POD_NAME: 'web' });
  });

  it('names the init container that has nothing to run', () => {
    const { errors } = plan([
      CLUSTER,
      pod('web', '  initContainers: [{name: i, image: example.com/setup:1}]\n'),
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/spec\.initContainers\[0\]\.image: .*no stand-in for "example\.com\/setup:1"/);
  });
});

describe('volume subPath', () => {
  const withMounts = (mounts: string) => `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  volumes:
    - {name: work, emptyDir: {}}
    - {name: conf, configMap: {name: settings, items: [{key: MODE, path: app/mode.conf}, {key: LEVEL, path: level}]}}
  containers:
    - name: c
      command: [sleep, infinity]
      volumeMounts: ${mounts}`;
  const SETTINGS = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {MODE: fast, LEVEL: "3"}`;
  const volumes = '/state/c1/volumes/default_web';

  it.each([
    [
      'a file of a configMap volume, over a file',
      '[{name: conf, mountPath: /etc/mode.conf, subPath: app/mode.conf}]',
      [{ source: `${volumes}/conf/app/mode.conf`, mountPath: '/etc/mode.conf', readOnly: true, file: true }],
    ],
    [
      'a directory of a configMap volume',
      '[{name: conf, mountPath: /etc/app, subPath: app}]',
      [{ source: `${volumes}/conf/app`, mountPath: '/etc/app', readOnly: true, file: false }],
    ],
    [
      'a directory of an emptyDir, made when missing; an empty subPath is the root',
      '[{name: work, mountPath: /cache, subPath: cache/a}, {name: work, mountPath: /all, subPath: ""}]',
      [
        { source: `${volumes}/work/cache/a`, mountPath: '/cache', readOnly: false },
        { source: `${volumes}/work`, mountPath: '/all', readOnly: false },
      ],
    ],
  ])('mounts %s', (_what, mounts, expected) => {
    const { state, errors } = plan([CLUSTER, SETTINGS, withMounts(mounts)]);
    expect(errors).toEqual([]);
    expect(state!.pods[0]!.mounts).toEqual(expected);
  });

  it('names the subPath a configMap volume does not hold, and what it holds', () => {
    const { errors } = plan([CLUSTER, SETTINGS, withMounts('[{name: conf, mountPath: /x, subPath: MODE}]')]);
    expect(errors).toEqual([
      'c.yaml: document 3 (Pod default/web): spec.containers[0].volumeMounts[0].subPath: volume "conf" holds no file or directory "MODE" (it holds "app/mode.conf", "level")',
    ]);
  });
});

describe('services', () => {
  const service = (name: string, extra = '') => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  selector: {app: a}
${extra}  ports: [{port: 80}]`;

  it('allocates ClusterIPs in file order around given ones and the DNS VIP, and finds their pods', () => {
    const { state, errors, warnings } = plan([
      CLUSTER,
      pod('a'),
      service('s1'),
      service('s2', '  clusterIP: 10.96.0.2\n'),
      service('s3'),
      service('s4', '  clusterIP: None\n'),
    ]);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(state!.services.map((s) => [s.name, s.clusterIP, s.podUids])).toEqual([
      ['s1', '10.96.0.1', ['default/a']],
      ['s2', '10.96.0.2', ['default/a']],
      ['s3', '10.96.0.3', ['default/a']],
      ['s4', undefined, ['default/a']],
    ]);
  });

  it('skips the DNS VIP when allocating', () => {
    const services = Array.from({ length: 11 }, (_, i) => service(`s${i}`));
    const { state } = plan([CLUSTER, pod('a'), ...services]);
    const ips = state!.services.map((s) => s.clusterIP);
    expect(ips).not.toContain('10.96.0.10');
    expect(ips.at(-1)).toBe('10.96.0.12');
  });

  it.each([
    [
      '  clusterIP: 10.97.0.1\n',
      'spec.clusterIP: 10.97.0.1 is not a host address of the service range 10.96.0.0/16',
    ],
    [
      '  clusterIP: 10.96.0.0\n',
      'spec.clusterIP: 10.96.0.0 is not a host address of the service range 10.96.0.0/16',
    ],
    ['  clusterIP: 10.96.0.10\n', 'spec.clusterIP: 10.96.0.10 is the cluster DNS address'],
  ])('rejects %j', (line, message) => {
    expect(plan([CLUSTER, service('s', line)]).errors).toEqual([
      `c.yaml: document 2 (Service default/s): ${message}`,
    ]);
  });

  it('rejects a ClusterIP given twice and warns about selectors that match nothing', () => {
    const { errors } = plan([
      CLUSTER,
      service('s1', '  clusterIP: 10.96.0.5\n'),
      service('s2', '  clusterIP: 10.96.0.5\n'),
    ]);
    expect(errors).toEqual([
      'c.yaml: document 3 (Service default/s2): spec.clusterIP: 10.96.0.5 is already the ClusterIP of Service default/s1 (c.yaml document 2)',
    ]);
    expect(plan([CLUSTER, service('s')]).warnings).toEqual([
      'warning: c.yaml: document 2 (Service default/s): spec.selector: selects no pod of the cluster',
    ]);
  });
});

describe('the resolved config handed to the mesh', () => {
  it('drops the Cluster, fills in allocated ClusterIPs and keeps everything else as written', () => {
    const text = [
      CLUSTER,
      pod('a'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: s1}\nspec: {selector: {app: a}, ports: [{port: 80}]}',
      'apiVersion: v1\nkind: Service\nmetadata: {name: s2}\nspec: {clusterIP: 10.96.0.7, ports: [{port: 80}]}',
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec: {action: DENY}',
    ].join('\n---\n');
    const parsed = parseYamlText(text, 'c.yaml');
    const { state } = planCluster(parseResources(parsed.documents, LOCAL_KINDS).resources, {
      stateDirFor: (n) => n,
      extensions: [],
    });
    const out = parseAllDocuments(resolvedConfig(parsed.documents, state!)).map((doc) => doc.toJS());
    expect(out.map((doc) => doc.kind)).toEqual(['Pod', 'Service', 'Service', 'AuthorizationPolicy']);
    expect(out[1].spec).toEqual({ selector: { app: 'a' }, ports: [{ port: 80 }], clusterIP: '10.96.0.1' });
    expect(out[2].spec.clusterIP).toBe('10.96.0.7');
    expect(out[3]).toEqual(parsed.documents[4]!.value);
  });
});

describe('cluster files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-plan-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file, names it in errors as given, and refuses the whole file on any error', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `${CLUSTER}\n---\n${pod('a', '  nodeName: n9\n')}\n`);
    const load = () => loadClusterFiles([file], { stateDirFor: (n) => n, extensions: [] });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`${file}: document 2 (Pod default/a): spec.nodeName: node "n9" does not exist`);
  });

  it('says when a file is missing or empty', () => {
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, '# nothing\n');
    expect(() =>
      loadClusterFiles([join(dir, 'missing.yaml')], { stateDirFor: (n) => n, extensions: [] }),
    ).toThrow('no such file');
    expect(() => loadClusterFiles([empty], { stateDirFor: (n) => n, extensions: [] })).toThrow(
      'no YAML documents',
    );
  });
});

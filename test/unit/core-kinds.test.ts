import { describe, expect, it } from 'vitest';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import {
  CORE_KINDS,
  type DeploymentSpec,
  type PodSpec,
  type ServiceSpec,
} from '../../src/core/config/kinds/core.ts';
import { kindRegistry, parseResources } from '../../src/core/config/resource.ts';
import { labelsMatch, selectorMatches } from '../../src/core/policy/selector.ts';

const registry = kindRegistry(CORE_KINDS);

function parse(text: string) {
  const { documents, issues } = parseYamlText(text, 'k.yaml');
  const parsed = parseResources(documents, registry);
  return {
    resources: parsed.resources,
    messages: [...issues, ...parsed.issues].filter((i) => i.severity === 'error').map(formatIssue),
  };
}

const pod = (spec: string, meta = 'name: p') =>
  `apiVersion: v1\nkind: Pod\nmetadata: {${meta}}\nspec:\n${spec}`;

describe('Pod', () => {
  it('parses the fields the local cluster uses and defaults the rest as Kubernetes does', () => {
    const { resources, messages } = parse(
      pod(`  nodeName: node-1
  containers:
    - name: app
      image: ignored:latest
      resources: {limits: {cpu: 100m}}
      command: [ambit, echo]
      args: [--port, "8080"]
      env:
        - {name: A, value: x}
        - name: MY_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
      ports: [{name: http, containerPort: 8080}]`),
    );
    expect(messages).toEqual([]);
    const spec = resources[0]!.spec as PodSpec;
    expect(spec.serviceAccountName).toBe('default');
    expect(spec.restartPolicy).toBe('Always');
    expect(spec.nodeName).toBe('node-1');
    expect(spec.containers[0]).toEqual({
      name: 'app',
      command: ['ambit', 'echo'],
      args: ['--port', '8080'],
      env: [
        { name: 'A', value: 'x', fieldRef: undefined },
        { name: 'MY_IP', value: undefined, fieldRef: 'status.podIP' },
      ],
      envFrom: [],
      workingDir: undefined,
      ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
      securityContext: {},
      image: 'ignored:latest',
      volumeMounts: [],
      probes: {},
    });
    expect(spec.terminationGracePeriodSeconds).toBe(30);
    expect(spec.volumes).toEqual([]);
  });

  it.each([
    ['  hostUsers: false', 'spec.hostUsers'],
    ['  shareProcessNamespace: true', 'spec.shareProcessNamespace'],
    ['  hostAliases: [{ip: 127.0.0.1, hostnames: [db]}]', 'spec.hostAliases'],
    ['  readinessGates: [{conditionType: x}]', 'spec.readinessGates'],
    ['  os: {name: linux}', 'spec.os'],
    ['  activeDeadlineSeconds: 30', 'spec.activeDeadlineSeconds'],
    [
      '  containers: [{name: c, lifecycle: {preStop: {exec: {command: [sleep, "1"]}}}}]',
      'spec.containers[0].lifecycle',
    ],
    [
      '  containers: [{name: c, env: [{name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}]}]',
      'spec.containers[0].env[0].valueFrom.resourceFieldRef',
    ],
  ])('accepts %j with a warning that the local cluster ignores it', (field, path) => {
    const text = field.includes('containers') ? field : `${field}\n  containers: [{name: c, command: [x]}]`;
    const { documents } = parseYamlText(pod(text), 'k.yaml');
    const parsed = parseResources(documents, registry);
    expect(parsed.issues.filter((i) => i.severity === 'error').map(formatIssue)).toEqual([]);
    expect(parsed.issues.map((issue) => `${issue.severity} ${issue.path}`)).toEqual([`warning ${path}`]);
    expect(parsed.resources).toHaveLength(1);
  });

  it('accepts host namespaces turned off, as they are by default', () => {
    const { documents } = parseYamlText(
      pod(
        '  hostNetwork: false\n  hostPID: false\n  hostIPC: false\n  containers: [{name: c, command: [x]}]',
      ),
      'k.yaml',
    );
    expect(parseResources(documents, registry).issues).toEqual([]);
  });

  it('honours the deprecated serviceAccount alias', () => {
    const { resources } = parse(pod('  serviceAccount: legacy\n  containers: [{name: c, command: [x]}]'));
    expect((resources[0]!.spec as PodSpec).serviceAccountName).toBe('legacy');
  });

  it.each([
    ['  containers: []', 'spec.containers: must not be empty'],
    ['  containers: [{name: c, command: x}]', 'spec.containers[0].command: expected a list, got string "x"'],
    ['  containers: [{name: C_1}]', 'spec.containers[0].name: invalid value "C_1"'],
    ['  containers: [{name: c}, {name: c}]', 'spec.containers[1].name: duplicate container name "c"'],
    [
      '  containers: [{name: c, env: [{name: 1A, value: x}]}]',
      'spec.containers[0].env[0].name: invalid value "1A"',
    ],
    [
      '  containers: [{name: c, env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}]',
      'spec.containers[0].env[0]: value and valueFrom are mutually exclusive',
    ],
    [
      '  containers: [{name: c, env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.hostname}}}]}]',
      'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: invalid value "spec.hostname"',
    ],
    [
      '  containers: [{name: c, env: [{name: A, valueFrom: {secretKeyRef: {name: s}}}]}]',
      'spec.containers[0].env[0].valueFrom.secretKeyRef.key: required field is missing',
    ],
    [
      '  containers: [{name: c, env: [{name: A, valueFrom: {resourceFieldRef: {divisor: 1m}}}]}]',
      'spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: required field is missing',
    ],
    ['  hostNetwork: yes\n  containers: [{name: c}]', 'spec.hostNetwork: expected true or false'],
    ['  hostAliases: [1]\n  containers: [{name: c}]', 'spec.hostAliases[0]: expected a mapping'],
    ['  containers: [{name: c, lifecycle: [x]}]', 'spec.containers[0].lifecycle: expected a mapping'],
    [
      '  containers: [{name: c, env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}, configMapKeyRef: {name: m, key: k}}}]}]',
      'spec.containers[0].env[0].valueFrom: fieldRef and configMapKeyRef are mutually exclusive: set only one',
    ],
    [
      '  containers: [{name: c, env: [{name: A, valueFrom: {}}]}]',
      'spec.containers[0].env[0].valueFrom: set one of',
    ],
    [
      '  containers: [{name: c, envFrom: [{prefix: P_}]}]',
      'spec.containers[0].envFrom[0]: set configMapRef or secretRef',
    ],
    [
      '  containers: [{name: c, envFrom: [{configMapRef: {name: m}, secretRef: {name: s}}]}]',
      'spec.containers[0].envFrom[0]: configMapRef and secretRef are mutually exclusive',
    ],
    [
      '  initContainers: [{name: c, command: [x]}]\n  containers: [{name: c, command: [y]}]',
      'spec.containers[0].name: duplicate container name "c"',
    ],
    [
      '  initContainers: [{name: i, command: [x], readinessProbe: {exec: {command: [x]}}}]\n  containers: [{name: c}]',
      'spec.initContainers[0].readinessProbe: init containers run to completion: they take no probes',
    ],
    [
      '  containers: [{name: c, envFrom: [{configMapRef: {name: Bad_Name}}]}]',
      'spec.containers[0].envFrom[0].configMapRef.name: invalid value "Bad_Name"',
    ],
    [
      '  containers: [{name: c, ports: [{containerPort: 70000}]}]',
      'spec.containers[0].ports[0].containerPort: must be at most 65535',
    ],
    [
      '  containers: [{name: c, ports: [{name: http, containerPort: 1}, {name: http, containerPort: 2}]}]',
      'spec.containers[0].ports[1].name: duplicate port name "http"',
    ],
    [
      '  containers: [{name: c, ports: [{name: 1234, containerPort: 1}]}]',
      'spec.containers[0].ports[0].name: expected a string',
    ],
    [
      '  containers: [{name: c, ports: [{name: "12-34", containerPort: 1}]}]',
      'spec.containers[0].ports[0].name: invalid value "12-34": port names are',
    ],
    [
      '  restartPolicy: Sometimes\n  containers: [{name: c}]',
      'spec.restartPolicy: invalid value "Sometimes"',
    ],
    [
      '  securityContext: {runAsUser: -1}\n  containers: [{name: c}]',
      'spec.securityContext.runAsUser: must be at least 0',
    ],
    [
      '  securityContext: {runAsNonRoot: true}\n  containers: [{name: c, securityContext: {runAsUser: 0}}]',
      'spec.containers[0]: runAsNonRoot is true but runAsUser is 0',
    ],
    ['  nodeName: Node_1\n  containers: [{name: c}]', 'spec.nodeName: invalid value "Node_1"'],
    [
      '  serviceAccountName: "sa!"\n  containers: [{name: c}]',
      'spec.serviceAccountName: invalid value "sa!"',
    ],
    [
      '  containers: [{name: c, ports: [{containerPort: 1, protocol: SCTP}]}]',
      'spec.containers[0].ports[0].protocol: SCTP is not supported',
    ],
    [
      '  hostNetwork: true\n  containers: [{name: c}]',
      'spec.hostNetwork: the local cluster gives every pod its own namespaces: hostNetwork cannot be true',
    ],
    ['  hostPID: true\n  containers: [{name: c}]', 'spec.hostPID: the local cluster gives every pod'],
  ])('rejects %j', (spec, message) => {
    const { resources, messages } = parse(pod(spec));
    expect(resources).toEqual([]);
    expect(messages.join('\n')).toContain(`k.yaml: document 1 (Pod default/p): ${message}`);
  });
});

describe('Namespace', () => {
  it('takes labels and refuses names with dots', () => {
    const ok = parse(
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}',
    );
    expect(ok.messages).toEqual([]);
    expect(ok.resources[0]!.metadata.labels).toEqual({ 'istio.io/dataplane-mode': 'ambient' });
    expect(parse('apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}').messages[0]).toContain(
      'metadata.name: namespace names',
    );
    expect(parse('apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}').messages[0]).toContain(
      'metadata.namespace: this kind is cluster-scoped',
    );
  });
});

const deployment = (selector: string, labels: string, extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 2
  selector: ${selector}
  template:
    metadata: {labels: ${labels}}
    spec:
${extra}      containers: [{name: c, command: [x]}]`;

describe('Deployment', () => {
  it('parses replicas, selector and template', () => {
    const { resources, messages } = parse(
      deployment(
        '{matchLabels: {app: a}, matchExpressions: [{key: tier, operator: In, values: [web]}]}',
        '{app: a, tier: web}',
      ),
    );
    expect(messages).toEqual([]);
    const spec = resources[0]!.spec as DeploymentSpec;
    expect(spec.replicas).toBe(2);
    expect(spec.template.labels).toEqual({ app: 'a', tier: 'web' });
    expect(spec.template.spec.containers[0]!.command).toEqual(['x']);
  });

  it.each([
    [deployment('{matchLabels: {app: b}}', '{app: a}'), 'spec.selector: does not match the template labels'],
    [deployment('{}', '{app: a}'), 'spec.selector: must not be empty'],
    [
      deployment('{matchExpressions: [{key: app, operator: In}]}', '{app: a}'),
      'spec.selector.matchExpressions[0].values: operator In needs values',
    ],
    [
      deployment('{matchExpressions: [{key: app, operator: Exists, values: [a]}]}', '{app: a}'),
      'spec.selector.matchExpressions[0].values: operator Exists takes no values',
    ],
    [
      deployment('{matchLabels: {app: a}}', '{app: a}', '      restartPolicy: Never\n'),
      'spec.template.spec.restartPolicy: a Deployment',
    ],
    [
      deployment('{matchLabels: {app: a}}', '{app: a}').replace('replicas: 2', 'replicas: -1'),
      'spec.replicas: must be at least 0',
    ],
    [
      deployment('{matchLabels: {app: a}}', '{app: a}').replace('  selector', '  selecter'),
      'spec.selecter: unknown field',
    ],
  ])('rejects %#', (text, message) => {
    const { messages } = parse(text);
    expect(messages.join('\n')).toContain(`(Deployment default/d): ${message}`);
  });
});

const service = (spec: string, name = 's') =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec:\n${spec}`;

describe('Service', () => {
  it('defaults targetPort to port and protocol to TCP, and keeps named targetPorts', () => {
    const { resources, messages } = parse(
      service(`  selector: {app: a}
  ports:
    - {name: http, port: 80, targetPort: http, appProtocol: http}
    - {name: raw, port: 9000}`),
    );
    expect(messages).toEqual([]);
    expect(resources[0]!.spec as ServiceSpec).toEqual({
      type: 'ClusterIP',
      sessionAffinity: 'None',
      sessionAffinityTimeoutSeconds: 10800,
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: [],
      publishNotReadyAddresses: false,
      selector: { app: 'a' },
      clusterIP: undefined,
      ports: [
        {
          name: 'http',
          port: 80,
          nodePort: undefined,
          targetPort: 'http',
          protocol: 'TCP',
          appProtocol: 'http',
        },
        {
          name: 'raw',
          port: 9000,
          nodePort: undefined,
          targetPort: 9000,
          protocol: 'TCP',
          appProtocol: undefined,
        },
      ],
    });
  });

  it('accepts a headless service without ports', () => {
    const { resources, messages } = parse(service('  clusterIP: None\n  selector: {app: a}'));
    expect(messages).toEqual([]);
    expect((resources[0]!.spec as ServiceSpec).clusterIP).toBe('None');
  });

  it.each([
    [
      '  ports: [{port: 80}, {port: 81}]',
      'spec.ports[0].name: required when a Service has more than one port',
    ],
    ['  ports: [{name: a, port: 80}, {name: a, port: 81}]', 'spec.ports[1].name: duplicate port name "a"'],
    [
      '  ports: [{name: a, port: 80}, {name: b, port: 80}]',
      'spec.ports[1].port: duplicate port and protocol "80/TCP"',
    ],
    ['  ports: [{port: 80, targetPort: 0}]', 'spec.ports[0].targetPort: must be at least 1'],
    ['  ports: [{port: 80, targetPort: "Http"}]', 'spec.ports[0].targetPort: invalid value "Http"'],
    ['  clusterIP: 10.96.0.300\n  ports: [{port: 80}]', 'spec.clusterIP: invalid value "10.96.0.300"'],
    ['  type: ExternalName\n  ports: [{port: 80}]', 'spec.type: ExternalName Services are not supported'],
    [
      '  type: NodePort\n  ports: [{port: 80, nodePort: 80}]',
      'spec.ports[0].nodePort: must be at least 30000, got 80',
    ],
    [
      '  ports: [{port: 80, nodePort: 30080}]',
      'spec.ports[0].nodePort: only NodePort and LoadBalancer Services',
    ],
    [
      '  type: NodePort\n  clusterIP: None\n  ports: [{port: 80}]',
      'spec.clusterIP: a NodePort Service cannot be headless',
    ],
    ['  ipFamilies: [IPv4, IPv4]\n  ports: [{port: 80}]', 'spec.ipFamilies: lists a family twice'],
    [
      '  ipFamilies: [IPv4, IPv6]\n  ports: [{port: 80}]',
      'spec.ipFamilies: two families need ipFamilyPolicy',
    ],
    ['  ipFamilyPolicy: Dual\n  ports: [{port: 80}]', 'spec.ipFamilyPolicy: invalid value "Dual"'],
    [
      '  sessionAffinityConfig: {clientIP: {timeoutSeconds: 5}}\n  ports: [{port: 80}]',
      'spec.sessionAffinityConfig: only allowed with sessionAffinity: ClientIP',
    ],
    ['  sessionAffinity: Sticky\n  ports: [{port: 80}]', 'spec.sessionAffinity: invalid value "Sticky"'],
    ['  selector: {app: a}', 'spec.ports: required field is missing'],
    ['  ports: [{port: 80, appProtocol: "not valid"}]', 'spec.ports[0].appProtocol: invalid value'],
  ])('rejects %j', (spec, message) => {
    expect(parse(service(spec)).messages.join('\n')).toContain(`(Service default/s): ${message}`);
  });

  it('requires a DNS-1035 name', () => {
    expect(parse(service('  ports: [{port: 80}]', '1abc')).messages[0]).toContain(
      'metadata.name: Service names',
    );
  });
});

describe('selectors', () => {
  const labels = { app: 'a', tier: 'web' };
  it.each([
    [{ matchLabels: { app: 'a' }, matchExpressions: [] }, true],
    [{ matchLabels: { app: 'b' }, matchExpressions: [] }, false],
    [
      {
        matchLabels: {},
        matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['web', 'api'] }],
      },
      true,
    ],
    [
      { matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['web'] }] },
      false,
    ],
    [
      { matchLabels: {}, matchExpressions: [{ key: 'zone', operator: 'NotIn' as const, values: ['x'] }] },
      true,
    ],
    [{ matchLabels: {}, matchExpressions: [{ key: 'app', operator: 'Exists' as const, values: [] }] }, true],
    [
      { matchLabels: {}, matchExpressions: [{ key: 'app', operator: 'DoesNotExist' as const, values: [] }] },
      false,
    ],
  ])('%j matches: %s', (selector, expected) => expect(selectorMatches(selector, labels)).toBe(expected));

  it('matches Service selectors as label subsets', () => {
    expect(labelsMatch({ app: 'a' }, labels)).toBe(true);
    expect(labelsMatch({ app: 'a', tier: 'db' }, labels)).toBe(false);
    expect(labelsMatch({}, labels)).toBe(true);
  });
});

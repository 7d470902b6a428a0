/**
 * The Telemetry kind and the mesh config: what is accepted, what is refused (with file, document and
 * field), and how a waypoint's telemetry is resolved from the mesh, namespace and waypoint levels.
 */
import { describe, expect, it } from 'vitest';
import { analyzeResources } from '../../src/control/config/analyze.ts';
import { telemetryLevels, waypointTelemetry } from '../../src/control/model/telemetry.ts';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import type { ConfigMapSpec } from '../../src/core/config/kinds/config-objects.ts';
import { CORE_KINDS } from '../../src/core/config/kinds/core.ts';
import { MESH_KINDS } from '../../src/core/config/kinds/mesh.ts';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from '../../src/core/config/kinds/mesh-config.ts';
import type { TelemetrySpec } from '../../src/core/config/kinds/telemetry.ts';
import { kindRegistry, parseResources } from '../../src/core/config/resource.ts';
import type { NamedConfig } from '../../src/core/model/index.ts';

const registry = kindRegistry([...CORE_KINDS, ...MESH_KINDS]);

function parse(text: string) {
  const { documents, issues } = parseYamlText(text, 't.yaml');
  const parsed = parseResources(documents, registry);
  const all = [...issues, ...parsed.issues];
  return {
    resources: parsed.resources,
    errors: all.filter((i) => i.severity === 'error').map(formatIssue),
    warnings: all.filter((i) => i.severity === 'warning').map(formatIssue),
  };
}

const telemetryDoc = (spec: string, meta = 'name: t, namespace: apps') =>
  `apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {${meta}}\nspec:\n${spec}`;

const meshDoc = (mesh: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |\n${mesh
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')}`;

const MESH = `accessLogFile: /dev/stdout
accessLogEncoding: JSON
extensionProviders:
- name: otel
  opentelemetry: {service: otel-collector.observability.svc.cluster.local, port: 4318, http: {path: /v1/traces}}
- name: json-file
  envoyFileAccessLog: {path: /var/log/waypoint.json, logFormat: {labels: {code: "%RESPONSE_CODE%"}}}
- name: text-file
  envoyFileAccessLog: {path: /var/log/waypoint.log, logFormat: {text: "%REQ(:METHOD)% %RESPONSE_CODE%\\n"}}
defaultProviders: {tracing: [otel]}`;

describe('mesh config (ConfigMap istio in istio-system)', () => {
  it('parses the telemetry subset', () => {
    const { resources, errors } = parse(meshDoc(MESH));
    expect(errors).toEqual([]);
    const mesh = (resources[0]!.spec as ConfigMapSpec).meshConfig!;
    expect(mesh).toMatchObject({
      enableTracing: true,
      accessLogFile: '/dev/stdout',
      accessLogEncoding: 'JSON',
      defaultProviders: { tracing: ['otel'], accessLogging: [], metrics: [] },
    });
    expect(mesh.extensionProviders.map((p) => p.kind)).toEqual([
      'opentelemetry',
      'envoyFileAccessLog',
      'envoyFileAccessLog',
    ]);
  });

  it('leaves other ConfigMaps alone', () => {
    const { resources, errors } = parse(
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: istio-system}\ndata: {mesh: "not: [valid"}',
    );
    expect(errors).toEqual([]);
    expect((resources[0]!.spec as ConfigMapSpec).meshConfig).toBeUndefined();
  });

  it.each([
    [
      'extensionProviders: [{name: x, opentelemetry: {port: 4318}}]',
      'data.mesh.extensionProviders[0].opentelemetry.service: required field is missing',
    ],
    [
      'extensionProviders: [{name: x, opentelemetry: {service: c, port: 70000}}]',
      'data.mesh.extensionProviders[0].opentelemetry.port: must be at most 65535',
    ],
    [
      'extensionProviders: [{name: x, opentelemetry: {service: c, port: 1, grpc: {}}}]',
      'data.mesh.extensionProviders[0].opentelemetry.grpc: Ambit exports OTLP over HTTP only',
    ],
    [
      'extensionProviders: [{name: x}]',
      'data.mesh.extensionProviders[0]: a provider sets its name and exactly one kind',
    ],
    [
      'extensionProviders: [{name: x, bogus: {}}]',
      'data.mesh.extensionProviders[0].bogus: unknown provider kind',
    ],
    [
      'extensionProviders: [{name: x, opentelemetry: {service: c, port: 1}}, {name: x, opentelemetry: {service: d, port: 1}}]',
      'data.mesh.extensionProviders[1].name: duplicate provider name x',
    ],
    [
      'extensionProviders: [{name: f, envoyFileAccessLog: {path: rel.log}}]',
      'data.mesh.extensionProviders[0].envoyFileAccessLog.path: an absolute path',
    ],
    [
      'extensionProviders: [{name: f, envoyFileAccessLog: {path: /l, logFormat: {text: "%NOPE%"}}}]',
      'data.mesh.extensionProviders[0].envoyFileAccessLog.logFormat.text: unknown command operator %NOPE%',
    ],
    [
      'extensionProviders: [{name: f, envoyFileAccessLog: {path: /l, logFormat: {labels: {a: "%REQ%"}}}}]',
      'data.mesh.extensionProviders[0].envoyFileAccessLog.logFormat.labels.a: %REQ% needs a header name',
    ],
    [
      'extensionProviders: [{name: f, envoyFileAccessLog: {path: /l, logFormat: {text: a, labels: {}}}}]',
      'logFormat: text and labels are mutually exclusive',
    ],
    ['accessLogEncoding: XML', 'data.mesh.accessLogEncoding: invalid value "XML"'],
    [
      'accessLogEncoding: JSON\naccessLogFormat: "not json"',
      'data.mesh.accessLogFormat: with accessLogEncoding JSON',
    ],
    ['enableTracing: "yes"', 'data.mesh.enableTracing: expected true or false'],
    ['extensionProviders: [unclosed', 'data.mesh: not valid YAML'],
  ])('refuses %s', (mesh, message) => {
    const { resources, errors } = parse(meshDoc(mesh));
    expect(resources).toEqual([]);
    expect(errors.join('\n')).toContain(message);
    expect(errors[0]).toContain('t.yaml: document 1 (ConfigMap istio-system/istio)');
  });

  it('warns about MeshConfig fields it does not read and providers it does not run', () => {
    const { errors, warnings } = parse(
      meshDoc(
        'enablePrometheusMerge: true\nextensionProviders: [{name: z, zipkin: {service: z, port: 9411}}]',
      ),
    );
    expect(errors).toEqual([]);
    expect(warnings.join('\n')).toContain(
      'data.mesh.enablePrometheusMerge: Ambit does not read this MeshConfig field',
    );
    expect(warnings.join('\n')).toContain('Ambit does not run zipkin providers');
  });
});

describe('Telemetry kind', () => {
  it('parses tracing, access logging and metrics', () => {
    const { resources, errors } = parse(
      telemetryDoc(`  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  tracing:
  - providers: [{name: otel}]
    randomSamplingPercentage: 12.5
    customTags:
      team: {literal: {value: payments}}
      user: {header: {name: X-User, defaultValue: none}}
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 500 || request.headers['x-debug'] == '1'"}
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT}
      disabled: true`),
    );
    expect(errors).toEqual([]);
    expect(resources[0]!.spec).toEqual({
      selector: undefined,
      targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }],
      tracing: [
        {
          mode: 'CLIENT_AND_SERVER',
          providers: ['otel'],
          randomSamplingPercentage: 12.5,
          disableSpanReporting: undefined,
          customTags: { team: { literal: 'payments' }, user: { header: 'x-user', defaultValue: 'none' } },
        },
      ],
      accessLogging: [
        {
          mode: 'CLIENT_AND_SERVER',
          providers: ['envoy'],
          disabled: undefined,
          filter: "response.code >= 500 || request.headers['x-debug'] == '1'",
        },
      ],
      metrics: [
        {
          providers: undefined,
          overrides: [{ metrics: ['istio_requests_total'], mode: 'CLIENT_AND_SERVER', disabled: true }],
        },
      ],
    } satisfies TelemetrySpec);
  });

  it.each([
    [
      '  tracing: [{randomSamplingPercentage: 101}]',
      'spec.tracing[0].randomSamplingPercentage: must be at most 100',
    ],
    ['  tracing: [{providers: [{}]}]', 'spec.tracing[0].providers[0].name: required field is missing'],
    ['  tracing: [{}, {}]', 'spec.tracing: only one tracing entry is supported'],
    [
      '  tracing: [{customTags: {a: {environment: {}}}}]',
      'spec.tracing[0].customTags.a.environment.name: required field is missing',
    ],
    [
      '  tracing: [{customTags: {a: {literal: {value: x}, header: {name: y}}}}]',
      'spec.tracing[0].customTags.a: literal and header are mutually exclusive',
    ],
    [
      '  accessLogging: [{filter: {expression: "response.code >="}}]',
      'spec.accessLogging[0].filter.expression: unexpected end of expression',
    ],
    [
      '  accessLogging: [{filter: {expression: "response.size > 1"}}]',
      'spec.accessLogging[0].filter.expression: unknown attribute response.size',
    ],
    [
      '  accessLogging: [{filter: {expression: "request.path.matches(\'x\')"}}]',
      'spec.accessLogging[0].filter.expression: unknown attribute request.path.matches',
    ],
    ['  accessLogging: [{disabled: "no"}]', 'spec.accessLogging[0].disabled: expected true or false'],
    [
      '  metrics: [{overrides: [{match: {metric: BOGUS}}]}]',
      'spec.metrics[0].overrides[0].match.metric: invalid value "BOGUS"',
    ],
    [
      '  metrics: [{overrides: [{tagOverrides: {a: {}}}]}]',
      'spec.metrics[0].overrides[0].tagOverrides.a.value: UPSERT needs a value',
    ],
    [
      '  selector: {matchLabels: {a: b}}\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: w}]',
      'spec: selector and targetRefs are mutually exclusive',
    ],
    ['  tracings: []', 'spec.tracings: unknown field'],
  ])('refuses %s', (spec, message) => {
    const { resources, errors } = parse(telemetryDoc(spec));
    expect(resources).toEqual([]);
    expect(errors.join('\n')).toContain(message);
    expect(errors[0]).toContain('t.yaml: document 1 (Telemetry apps/t)');
  });

  it.each([
    [
      '  tracing: [{customTags: {a: {environment: {name: X}}}}]',
      'spec.tracing[0].customTags.a.environment: environment tags are not applied by Ambit',
    ],
    [
      '  metrics: [{overrides: [{match: {customMetric: my_metric}, disabled: true}]}]',
      'spec.metrics[0].overrides[0].match.customMetric: custom metrics are not emitted by Ambit',
    ],
    [
      '  metrics: [{overrides: [{tagOverrides: {a: {operation: REMOVE}, b: {value: "1"}}}]}]',
      'spec.metrics[0].overrides[0].tagOverrides: tag overrides are not applied by Ambit yet',
    ],
  ])('accepts with a warning what it does not apply: %s', (spec, message) => {
    const { resources, errors, warnings } = parse(telemetryDoc(spec));
    expect(errors).toEqual([]);
    expect(resources).toHaveLength(1);
    expect(warnings.join('\n')).toContain(message);
  });
});

const telemetry = (
  namespace: string,
  name: string,
  spec: Partial<TelemetrySpec>,
): NamedConfig<TelemetrySpec> => ({
  name,
  namespace,
  spec: { targetRefs: [], tracing: [], accessLogging: [], metrics: [], ...spec },
});

const tracing = (fields: Partial<TelemetrySpec['tracing'][number]>) => ({
  tracing: [{ mode: 'CLIENT_AND_SERVER' as const, customTags: {}, ...fields }],
});
const logging = (...entries: Partial<TelemetrySpec['accessLogging'][number]>[]) => ({
  accessLogging: entries.map((entry) => ({ mode: 'CLIENT_AND_SERVER' as const, ...entry })),
});

const mesh: MeshConfig = {
  ...DEFAULT_MESH_CONFIG,
  extensionProviders: [
    { name: 'otel', kind: 'opentelemetry', service: 'collector.obs', port: 4318, path: '/v1/traces' },
    { name: 'other-otel', kind: 'opentelemetry', service: '10.0.0.9', port: 4318, path: '/traces' },
    { name: 'json', kind: 'envoyFileAccessLog', path: '/dev/stdout', labels: { code: '%RESPONSE_CODE%' } },
  ],
};
const waypoint = { name: 'waypoint', namespace: 'apps' };
const STDOUT_TEXT = { provider: 'envoy', path: '/dev/stdout', encoding: 'TEXT' };

describe('a waypoint’s telemetry, resolved', () => {
  it.each<[string, MeshConfig, NamedConfig<TelemetrySpec>[], object]>([
    [
      'nothing configured: the mesh text log, no tracing',
      DEFAULT_MESH_CONFIG,
      [],
      { tracing: undefined, accessLogs: [STDOUT_TEXT] },
    ],
    ['accessLogFile empty: no log', { ...mesh, accessLogFile: '' }, [], { accessLogs: [] }],
    [
      'default tracing provider, sampled at Istio’s 1%',
      { ...mesh, defaultProviders: { tracing: ['otel'], accessLogging: [], metrics: [] } },
      [],
      {
        tracing: {
          provider: 'otel',
          endpoint: 'http://collector.obs:4318/v1/traces',
          samplingPercentage: 1,
          customTags: {},
        },
      },
    ],
    [
      'enableTracing false drops the default provider',
      {
        ...mesh,
        enableTracing: false,
        defaultProviders: { tracing: ['otel'], accessLogging: [], metrics: [] },
      },
      [],
      { tracing: undefined },
    ],
    [
      'mesh level names the provider, namespace level the sampling',
      mesh,
      [
        telemetry('istio-system', 'mesh', tracing({ providers: ['otel'] })),
        telemetry('apps', 'ns', tracing({ randomSamplingPercentage: 50 })),
      ],
      { tracing: { provider: 'otel', samplingPercentage: 50 } },
    ],
    [
      'the waypoint’s own (targetRef) overrides the namespace',
      mesh,
      [
        telemetry('apps', 'ns', tracing({ providers: ['otel'], randomSamplingPercentage: 50 })),
        telemetry('apps', 'own', {
          targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }],
          ...tracing({ providers: ['other-otel'] }),
        }),
      ],
      {
        tracing: { provider: 'other-otel', endpoint: 'http://10.0.0.9:4318/traces', samplingPercentage: 50 },
      },
    ],
    [
      'a selector on the gateway-name label selects the waypoint',
      mesh,
      [
        telemetry('apps', 'sel', {
          selector: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
          ...tracing({ providers: ['otel'] }),
        }),
      ],
      { tracing: { provider: 'otel' } },
    ],
    [
      'objects for other waypoints, namespaces and Services do not apply',
      mesh,
      [
        telemetry('other', 'ns', tracing({ providers: ['otel'] })),
        telemetry('apps', 'w2', {
          targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'w2' }],
          ...tracing({ providers: ['otel'] }),
        }),
        telemetry('apps', 'svc', {
          targetRefs: [{ kind: 'Service', group: '', name: 'waypoint' }],
          ...tracing({ providers: ['otel'] }),
        }),
        telemetry('apps', 'sel', { selector: { app: 'reviews' }, ...tracing({ providers: ['otel'] }) }),
      ],
      { tracing: undefined },
    ],
    [
      'disableSpanReporting turns it off',
      mesh,
      [telemetry('apps', 'ns', tracing({ providers: ['otel'], disableSpanReporting: true }))],
      { tracing: undefined },
    ],
    [
      'a provider that is not opentelemetry traces nothing',
      mesh,
      [telemetry('apps', 'ns', tracing({ providers: ['json'] }))],
      { tracing: undefined },
    ],
    [
      'custom tags merge down the levels',
      mesh,
      [
        telemetry(
          'istio-system',
          'mesh',
          tracing({ providers: ['otel'], customTags: { a: { literal: '1' }, b: { literal: '2' } } }),
        ),
        telemetry('apps', 'ns', tracing({ customTags: { b: { header: 'x-b' } } })),
      ],
      { tracing: { customTags: { a: { literal: '1' }, b: { header: 'x-b' } } } },
    ],
    [
      'access logging: a named provider added with a filter, the default one disabled',
      mesh,
      [
        telemetry(
          'apps',
          'ns',
          logging(
            { providers: ['json'], filter: 'response.code >= 400' },
            { providers: ['envoy'], disabled: true },
          ),
        ),
      ],
      {
        accessLogs: [
          {
            provider: 'json',
            path: '/dev/stdout',
            encoding: 'JSON',
            labels: { code: '%RESPONSE_CODE%' },
            filter: 'response.code >= 400',
          },
        ],
      },
    ],
    [
      'access logging: no providers means the default ones; a lower level turns them back on',
      mesh,
      [
        telemetry('istio-system', 'mesh', logging({ disabled: true })),
        telemetry('apps', 'ns', logging({ disabled: false })),
      ],
      { accessLogs: [STDOUT_TEXT] },
    ],
    [
      'access logging disabled mesh-wide',
      mesh,
      [telemetry('istio-system', 'mesh', logging({ disabled: true }))],
      { accessLogs: [] },
    ],
    [
      'JSON encoding and format of the mesh-wide log',
      { ...DEFAULT_MESH_CONFIG, accessLogEncoding: 'JSON', accessLogFormat: '{"c":"%RESPONSE_CODE%"}' },
      [],
      {
        accessLogs: [
          { provider: 'envoy', path: '/dev/stdout', encoding: 'JSON', labels: { c: '%RESPONSE_CODE%' } },
        ],
      },
    ],
    [
      'metrics: disabled at the mesh, one turned back on below',
      mesh,
      [
        telemetry('istio-system', 'mesh', {
          metrics: [
            {
              overrides: [
                {
                  metrics: ['istio_requests_total', 'istio_request_bytes'],
                  mode: 'CLIENT_AND_SERVER',
                  disabled: true,
                },
              ],
            },
          ],
        }),
        telemetry('apps', 'ns', {
          metrics: [
            { overrides: [{ metrics: ['istio_request_bytes'], mode: 'CLIENT_AND_SERVER', disabled: false }] },
          ],
        }),
      ],
      { disabledMetrics: ['istio_requests_total'] },
    ],
  ])('%s', (_, meshConfig, telemetries, expected) => {
    expect(waypointTelemetry({ meshConfig, telemetries }, waypoint)).toMatchObject(expected);
  });

  it('takes the first object by name when several apply at one level', () => {
    const levels = telemetryLevels(
      [
        telemetry('apps', 'b', tracing({ randomSamplingPercentage: 2 })),
        telemetry('apps', 'a', tracing({ randomSamplingPercentage: 1 })),
      ],
      waypoint,
    );
    expect(levels.map((level) => level.tracing[0]?.randomSamplingPercentage)).toEqual([1]);
  });
});

describe('analysis of Telemetry against the mesh config', () => {
  it('warns of providers the mesh config does not define or defines as another kind, and of Service targets', () => {
    const { resources, errors } = parse(
      [
        meshDoc(MESH),
        telemetryDoc(`  tracing: [{providers: [{name: otel}, {name: missing}, {name: json-file}]}]
  accessLogging: [{providers: [{name: envoy}, {name: otel}, {name: text-file}]}]`),
        telemetryDoc('  targetRefs: [{kind: Service, group: "", name: echo}]', 'name: svc, namespace: apps'),
      ].join('\n---\n'),
    );
    expect(errors).toEqual([]);
    expect(analyzeResources(resources, 'cluster.local').map(formatIssue)).toEqual([
      "warning: t.yaml: document 2 (Telemetry apps/t): spec.tracing[0].providers[1].name: provider missing is not among the mesh config's extensionProviders",
      'warning: t.yaml: document 2 (Telemetry apps/t): spec.tracing[0].providers[2].name: provider json-file is envoyFileAccessLog, not opentelemetry: it is not used here',
      'warning: t.yaml: document 2 (Telemetry apps/t): spec.accessLogging[0].providers[1].name: provider otel is opentelemetry, not envoyFileAccessLog: it is not used here',
      "warning: t.yaml: document 3 (Telemetry apps/svc): spec.targetRefs[0]: a Service target is per-service telemetry, which waypoints do not apply yet: target the waypoint's Gateway",
    ]);
  });
});

/**
 * The upstream kinds and fields, from our own fixtures (test/fixtures/api): every document of valid.yaml is
 * accepted (kinds Ambit does not act on with a warning saying so), and each document of invalid.yaml is refused
 * with the error its `# expect:` line names, located in its file.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyzeResources } from '../../src/control/config/analyze.ts';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { formatIssue } from '../../src/core/config/issues.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8');

function messages(content: string, file: string) {
  const parsed = parseFiles([{ name: file, content }], CONTROL_KINDS);
  const format = (severity: string) =>
    parsed.issues.filter((issue) => issue.severity === severity).map(formatIssue);
  return { parsed, errors: format('error'), warnings: format('warning') };
}

describe('upstream kinds: valid manifests', () => {
  const { parsed, errors, warnings } = messages(fixture('valid.yaml'), 'valid.yaml');

  it('accepts every document', () => {
    expect(errors).toEqual([]);
  });

  it('keeps the kinds Ambit serves, the classic Gateway under its qualified kind', () => {
    expect(parsed.resources.map((r) => r.kind)).toEqual([
      'Gateway.networking.istio.io',
      'VirtualService',
      'ServiceEntry',
      'ServiceEntry',
      'ServiceEntry',
      'ServiceEntry',
      'ServiceEntry',
      'DestinationRule',
      'AuthorizationPolicy',
      'GatewayClass',
      'Gateway',
      'HTTPRoute',
      'TCPRoute',
      'TLSRoute',
      'UDPRoute',
      'ReferenceGrant',
      'ListenerSet',
      'BackendTLSPolicy',
      'RequestAuthentication',
      'Telemetry',
      'Pod',
    ]);
  });

  it('warns about each kind or field it does not act on, naming it', () => {
    // The classic Gateway is served (by the gateway deployment its selector picks): no warning on its kind.
    expect(warnings.filter((warning) => warning.includes('shop/shop-gateway): kind'))).toEqual([]);
    for (const expected of [
      '(HTTPRoute shop/web): spec.rules[0].filters[0]: CORS filters are not applied by Ambit yet',
      '(HTTPRoute shop/web): spec.parentRefs[1].kind: Ambit attaches routes to a Gateway',
      '(EndpointSlice shop/web-abc): kind: EndpointSlice is accepted but not acted on',
      '(EnvoyFilter shop/tweak): kind: EnvoyFilter is accepted but not acted on',
      '(WasmPlugin shop/plugin): kind: WasmPlugin is accepted but not acted on',
      'document 22: kind: Certificate (cert-manager.io/v1) is not a kind Ambit acts on',
      'document 23: kind: Service (serving.knative.dev/v1) is not a kind Ambit acts on',
      '(ListenerSet shop/extra): kind: ListenerSet is validated but not acted on by Ambit yet',
      '(Telemetry shop/extras): spec.tracing[0].customTags.cluster.environment: environment tags are not applied',
      '(Telemetry shop/extras): spec.metrics[0].overrides[0].match.customMetric: custom metrics are not emitted',
      '(Telemetry shop/extras): spec.metrics[0].overrides[1].tagOverrides: tag overrides are not applied',
      '(WorkloadEntry shop/vm-1): kind: WorkloadEntry is accepted but not acted on',
    ]) {
      expect(
        warnings.some((warning) => warning.includes(expected)),
        expected,
      ).toBe(true);
    }
  });

  it('tells which DNS ServiceEntries no waypoint resolves by name', () => {
    const notes = analyzeResources(parsed.resources, 'cluster.local')
      .filter((issue) => issue.resource?.kind === 'ServiceEntry')
      .map(formatIssue);
    expect(notes).toEqual([
      expect.stringContaining(
        "(ServiceEntry shop/payments-api): spec.resolution: DNS endpoints are resolved by name by the entry's waypoint, and no waypoint serves it",
      ),
      expect.stringContaining(
        "(ServiceEntry shop/search-rr): spec.resolution: DNS_ROUND_ROBIN endpoints are resolved by name by the entry's waypoint",
      ),
    ]);
  });

  it('reads ServiceEntry fields with Istio defaults', () => {
    const entries = parsed.resources.filter((r) => r.kind === 'ServiceEntry');
    expect(entries.map((r) => r.spec)).toMatchObject([
      { resolution: 'DNS', location: 'MESH_EXTERNAL', addresses: [], exportTo: ['.'] },
      {
        resolution: 'STATIC',
        location: 'MESH_INTERNAL',
        ports: [{ number: 5432, protocol: 'TCP', name: 'tcp-pg', targetPort: 15432 }],
        endpoints: [
          { address: '192.0.2.11', ports: { 'tcp-pg': 5433 }, weight: 3 },
          { address: '192.0.2.12' },
        ],
      },
      { resolution: 'NONE', ports: [{ protocol: 'TLS' }] },
      { resolution: 'DNS_ROUND_ROBIN', endpoints: [{ address: 'search-backend.example.com' }] },
      { resolution: 'STATIC', workloadSelector: { app: 'vm' } },
    ]);
  });

  it('feeds warmup.duration to the load balancer as the older warmupDurationSecs did', () => {
    const rule = parsed.resources.find((r) => r.kind === 'DestinationRule')!;
    expect(rule.spec).toMatchObject({
      trafficPolicy: {
        loadBalancer: {
          warmupDurationSecs: 45_000,
          warmup: { duration: 45_000, minimumPercent: 20, aggression: 1.5 },
        },
        connectionPool: { http: { http2KeepAlive: { interval: 20_000, timeout: 3_000 } } },
      },
    });
  });
});

describe('upstream kinds: each invalid document gets its error', () => {
  const documents = fixture('invalid.yaml').split(/^---$/m);
  it.each(documents.map((text, index) => [index + 1, text] as const))('document %i', (_number, text) => {
    const expected = /^# expect: (.*)$/m.exec(text)?.[1];
    expect(expected, 'each document says what it expects').toBeDefined();
    const { parsed, errors } = messages(text, 'invalid.yaml');
    expect(parsed.resources).toEqual([]);
    expect(
      errors.some((error) => error.startsWith('invalid.yaml: document 1') && error.includes(expected!)),
      errors.join('\n'),
    ).toBe(true);
  });
});

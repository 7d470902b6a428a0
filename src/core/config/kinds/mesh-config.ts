/**
 * Istio's MeshConfig, the subset the mesh's telemetry reads, where Istio keeps it: the `mesh` key of the
 * ConfigMap `istio` in `istio-system`. `extensionProviders` (`opentelemetry` collectors and
 * `envoyFileAccessLog` logs), `defaultProviders`, `enableTracing`, `accessLogFile`, `accessLogEncoding`
 * and `accessLogFormat`; and for ztunnels `outboundTrafficPolicy.mode` (what happens to a connection to an
 * address outside the registry). Errors name the field inside the text (`data.mesh.extensionProviders[0]...`);
 * other MeshConfig fields are accepted with a warning that Ambit does not read them.
 */
import { parse as parseYaml } from 'yaml';
import { ROOT_NAMESPACE } from '../../labels.ts';
import type { OutboundTrafficPolicy } from '../../model/index.ts';
import { compileFormat, compileLabels } from '../../observe/access-log-format.ts';
import { Field } from '../field.ts';
import type { ObjectMeta } from '../resource.ts';
import { hostname } from './common.ts';

export const MESH_CONFIG_MAP = { name: 'istio', namespace: ROOT_NAMESPACE, key: 'mesh' } as const;

export interface OpenTelemetryProvider {
  name: string;
  kind: 'opentelemetry';
  service: string;
  port: number;
  /** The OTLP/HTTP path (`/v1/traces` by default). */
  path: string;
}

export interface FileAccessLogProvider {
  name: string;
  kind: 'envoyFileAccessLog';
  path: string;
  text?: string | undefined;
  labels?: Record<string, string> | undefined;
}

export type ExtensionProvider = OpenTelemetryProvider | FileAccessLogProvider;

export interface MeshConfig {
  enableTracing: boolean;
  /** `''` turns the mesh-wide log off; `/dev/stdout` is the proxy's standard output. */
  accessLogFile: string;
  accessLogEncoding: 'TEXT' | 'JSON';
  accessLogFormat?: string | undefined;
  defaultProviders: { tracing: string[]; accessLogging: string[]; metrics: string[] };
  extensionProviders: ExtensionProvider[];
  /** ALLOW_ANY (Istio's default) passes unknown destinations through; REGISTRY_ONLY refuses them. */
  outboundTrafficPolicy: OutboundTrafficPolicy;
}

/**
 * The mesh config when none is given: a mesh-wide text access log on standard output (as Istio's demo
 * profile sets it, and as the waypoint wrote before there was a mesh config) and no tracing provider.
 */
export const DEFAULT_MESH_CONFIG: MeshConfig = {
  enableTracing: true,
  accessLogFile: '/dev/stdout',
  accessLogEncoding: 'TEXT',
  defaultProviders: { tracing: [], accessLogging: [], metrics: [] },
  extensionProviders: [],
  outboundTrafficPolicy: 'ALLOW_ANY',
};

/** The built-in provider names that stand for the mesh-wide settings, as in Istio. */
export const BUILTIN_ACCESS_LOG_PROVIDER = 'envoy';
export const BUILTIN_METRICS_PROVIDER = 'prometheus';

const READ_FIELDS = [
  'enableTracing',
  'accessLogFile',
  'accessLogEncoding',
  'accessLogFormat',
  'defaultProviders',
  'extensionProviders',
  'outboundTrafficPolicy',
];

/** Providers Istio knows whose kind we do not run: accepted, with a warning, and never selected. */
const OTHER_PROVIDER_KINDS = [
  'prometheus',
  'zipkin',
  'datadog',
  'stackdriver',
  'skywalking',
  'envoyOtelAls',
  'envoyHttpAls',
  'envoyTcpAls',
  'envoyExtAuthzHttp',
  'envoyExtAuthzGrpc',
  'lightstep',
  'opencensus',
  'sds',
];

export function isMeshConfigMap(meta: ObjectMeta): boolean {
  return meta.name === MESH_CONFIG_MAP.name && meta.namespace === MESH_CONFIG_MAP.namespace;
}

/** Parses the ConfigMap's `data.mesh` text; undefined (with errors reported) when it is not valid. */
export function parseMeshConfigText(field: Field): MeshConfig | undefined {
  const text = field.string();
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    return field.error(`not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  return parseMeshConfig(new Field(value ?? {}, field.path, field.issues));
}

export function parseMeshConfig(field: Field): MeshConfig | undefined {
  const object = field.object('any');
  if (!object) return undefined;
  for (const key of object.keys()) {
    if (!READ_FIELDS.includes(key)) object.child(key).warn('Ambit does not read this MeshConfig field');
  }
  const names = new Set<string>();
  const providers =
    object.child('extensionProviders').list((item) => {
      const provider = extensionProvider(item);
      if (provider === undefined) return undefined;
      if (names.has(provider.name))
        return item.child('name').error(`duplicate provider name ${provider.name}`);
      names.add(provider.name);
      return provider;
    }) ?? [];
  const defaults = object.child('defaultProviders').object(['tracing', 'metrics', 'accessLogging']);
  const defaultList = (key: string) => defaults?.child(key).strings() ?? [];
  const encoding = object.child('accessLogEncoding').oneOf(['TEXT', 'JSON'] as const) ?? 'TEXT';
  const format = object.child('accessLogFormat').string();
  const outbound = object.child('outboundTrafficPolicy').object(['mode', 'egressProxy']);
  if (outbound?.child('egressProxy').present)
    outbound.child('egressProxy').warn('Ambit does not send egress through an egressProxy');
  const outboundMode = outbound?.child('mode').oneOf(['ALLOW_ANY', 'REGISTRY_ONLY'] as const);
  if (outbound?.child('mode').present && outboundMode === undefined) return undefined;
  if (format !== undefined) checkFormat(object.child('accessLogFormat'), format, encoding);
  return {
    enableTracing: object.child('enableTracing').boolean() ?? true,
    accessLogFile: object.child('accessLogFile').string() ?? '',
    accessLogEncoding: encoding,
    accessLogFormat: format,
    defaultProviders: {
      tracing: defaultList('tracing'),
      accessLogging: defaultList('accessLogging'),
      metrics: defaultList('metrics'),
    },
    extensionProviders: providers,
    outboundTrafficPolicy: outboundMode ?? DEFAULT_MESH_CONFIG.outboundTrafficPolicy,
  };
}

/** `accessLogFormat` is a format string for TEXT and a JSON object of labels for JSON, as in Istio. */
function checkFormat(field: Field, format: string, encoding: 'TEXT' | 'JSON'): void {
  if (encoding === 'TEXT') {
    checkText(field, format);
    return;
  }
  let labels: unknown;
  try {
    labels = JSON.parse(format);
  } catch {
    field.error('with accessLogEncoding JSON, accessLogFormat is a JSON object of keys to format strings');
    return;
  }
  checkLabels(new Field(labels, field.path, field.issues));
}

function checkText(field: Field, text: string): void {
  const result = compileFormat(text);
  if ('error' in result) field.error(result.error);
}

function checkLabels(field: Field): Record<string, string> | undefined {
  const labels = field.map((item) => item.string({ required: true }));
  if (labels === undefined) return undefined;
  const result = compileLabels(labels);
  if ('error' in result) return field.child(result.key).error(result.error);
  return labels;
}

function extensionProvider(field: Field): ExtensionProvider | undefined {
  const object = field.object('any', { required: true });
  if (!object) return undefined;
  const name = object.child('name').string({ required: true, nonEmpty: true });
  const kinds = object.keys().filter((key) => key !== 'name');
  if (kinds.length !== 1)
    return field.error(
      `a provider sets its name and exactly one kind (opentelemetry, envoyFileAccessLog, ...), got ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`,
    );
  const kind = kinds[0] as string;
  const body = object.child(kind);
  if (name === undefined) return undefined;
  if (kind === 'opentelemetry') return openTelemetry(body, name);
  if (kind === 'envoyFileAccessLog') return fileAccessLog(body, name);
  if (OTHER_PROVIDER_KINDS.includes(kind)) {
    body.warn(`Ambit does not run ${kind} providers: this provider is never used`);
    return undefined;
  }
  return body.error(
    `unknown provider kind (known: opentelemetry, envoyFileAccessLog, ${OTHER_PROVIDER_KINDS.join(', ')})`,
  );
}

function openTelemetry(field: Field, name: string): OpenTelemetryProvider | undefined {
  const object = field.object(['service', 'port', 'maxTagLength', 'http', 'grpc', 'resourceDetectors'], {
    required: true,
  });
  if (!object) return undefined;
  const service = hostname(object.child('service'), { allowIp: true });
  const port = object.child('port').port({ required: true });
  if (object.child('grpc').present)
    object.child('grpc').error('Ambit exports OTLP over HTTP only: use http (or leave both out)');
  const http = object.child('http').object(['path', 'timeout', 'headers']);
  const path = http?.child('path').string({ nonEmpty: true }) ?? '/v1/traces';
  if (!path.startsWith('/')) http?.child('path').error('the path starts with /');
  http?.child('timeout').duration();
  if (service === undefined || port === undefined) return undefined;
  return { name, kind: 'opentelemetry', service, port, path };
}

function fileAccessLog(field: Field, name: string): FileAccessLogProvider | undefined {
  const object = field.object(['path', 'logFormat'], { required: true });
  if (!object) return undefined;
  const path = object.child('path').string({ required: true, nonEmpty: true });
  if (path !== undefined && !path.startsWith('/'))
    object.child('path').error('an absolute path (or /dev/stdout)');
  const logFormat = object.child('logFormat').object(['text', 'labels', 'omitEmptyValues']);
  logFormat?.exclusive(['text', 'labels']);
  const text = logFormat?.child('text').string();
  if (text !== undefined) checkText(logFormat?.child('text') as Field, text);
  const labels = logFormat?.child('labels').present ? checkLabels(logFormat.child('labels')) : undefined;
  if (path === undefined) return undefined;
  return { name, kind: 'envoyFileAccessLog', path, text, labels };
}

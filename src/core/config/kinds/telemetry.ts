/**
 * Istio's `Telemetry` kind (`telemetry.istio.io/v1`, also `v1alpha1`): tracing (providers, sampling,
 * custom tags), access logging (providers, on/off, filter expression) and metrics overrides (disable a
 * metric), for the mesh (root namespace, no selector), a namespace, a workload selector or `targetRefs`.
 * Checked as Istio's validation does, and further: a filter outside the CEL subset we evaluate is refused
 * here, not ignored at run time.
 */
import { compileFilter } from '../../observe/access-log-filter.ts';
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { HEADER_NAME, workloadSelector } from './common.ts';
import { type PolicyTargetRef, policyTargetRef } from './istio-security.ts';

export type WorkloadMode = 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';

export type CustomTag = { literal: string } | { header: string; defaultValue?: string | undefined };

export interface TracingSpec {
  mode: WorkloadMode;
  /** Undefined: inherit; empty: none was named (inherit too, as in Istio). */
  providers?: string[] | undefined;
  randomSamplingPercentage?: number | undefined;
  disableSpanReporting?: boolean | undefined;
  customTags: Record<string, CustomTag>;
}

export interface AccessLoggingSpec {
  mode: WorkloadMode;
  providers?: string[] | undefined;
  disabled?: boolean | undefined;
  filter?: string | undefined;
}

/** Istio's metric selectors and the Prometheus names they stand for. */
export const ISTIO_METRICS: Readonly<Record<string, readonly string[]>> = {
  REQUEST_COUNT: ['istio_requests_total'],
  REQUEST_DURATION: ['istio_request_duration_milliseconds'],
  REQUEST_SIZE: ['istio_request_bytes'],
  RESPONSE_SIZE: ['istio_response_bytes'],
  TCP_OPENED_CONNECTIONS: ['istio_tcp_connections_opened_total'],
  TCP_CLOSED_CONNECTIONS: ['istio_tcp_connections_closed_total'],
  TCP_SENT_BYTES: ['istio_tcp_sent_bytes_total'],
  TCP_RECEIVED_BYTES: ['istio_tcp_received_bytes_total'],
  GRPC_REQUEST_MESSAGES: ['istio_request_messages_total'],
  GRPC_RESPONSE_MESSAGES: ['istio_response_messages_total'],
};
export const ALL_METRICS = 'ALL_METRICS';

export interface MetricOverride {
  /** Prometheus names the override applies to. */
  metrics: string[];
  mode: WorkloadMode;
  disabled?: boolean | undefined;
}

export interface MetricsSpec {
  providers?: string[] | undefined;
  overrides: MetricOverride[];
}

export interface TelemetrySpec {
  selector?: Record<string, string> | undefined;
  targetRefs: PolicyTargetRef[];
  tracing: TracingSpec[];
  accessLogging: AccessLoggingSpec[];
  metrics: MetricsSpec[];
}

const MODES = ['CLIENT', 'SERVER', 'CLIENT_AND_SERVER'] as const;

function mode(field: Field): WorkloadMode {
  const match = field.object(['mode']);
  return match?.child('mode').oneOf(MODES) ?? 'CLIENT_AND_SERVER';
}

function providers(field: Field): string[] | undefined {
  if (!field.present) return undefined;
  return (
    field.list((item) => {
      const object = item.object(['name'], { required: true });
      return object?.child('name').string({ required: true, nonEmpty: true });
    }) ?? []
  );
}

function customTag(field: Field): CustomTag | undefined {
  const object = field.object(['literal', 'header', 'environment'], { required: true });
  if (!object) return undefined;
  object.exclusive(['literal', 'header', 'environment']);
  const environment = object.child('environment').object(['name', 'defaultValue']);
  if (environment) {
    environment.child('name').string({ required: true, nonEmpty: true });
    environment.child('defaultValue').string();
    environment.warn(
      'environment tags are not applied by Ambit: this tag is left out (use literal or header)',
    );
    return undefined;
  }
  const literal = object.child('literal').object(['value']);
  if (literal) {
    const value = literal.child('value').string({ required: true });
    return value === undefined ? undefined : { literal: value };
  }
  const header = object.child('header').object(['name', 'defaultValue']);
  if (header) {
    const name = header.child('name').string({
      required: true,
      pattern: HEADER_NAME,
      patternHint: 'header names are letters, digits, - and _',
    });
    const defaultValue = header.child('defaultValue').string();
    return name === undefined ? undefined : { header: name.toLowerCase(), defaultValue };
  }
  return field.error('set one of literal or header');
}

function tracing(field: Field): TracingSpec | undefined {
  const object = field.object(
    [
      'match',
      'providers',
      'randomSamplingPercentage',
      'disableSpanReporting',
      'customTags',
      'useRequestIdForTraceSampling',
      'enableIstioTags',
    ],
    { required: true },
  );
  if (!object) return undefined;
  object.child('useRequestIdForTraceSampling').boolean();
  object.child('enableIstioTags').boolean();
  return {
    mode: mode(object.child('match')),
    providers: providers(object.child('providers')),
    randomSamplingPercentage: object.child('randomSamplingPercentage').number({ min: 0, max: 100 }),
    disableSpanReporting: object.child('disableSpanReporting').boolean(),
    customTags: object.child('customTags').map(customTag) ?? {},
  };
}

function accessLogging(field: Field): AccessLoggingSpec | undefined {
  const object = field.object(['match', 'providers', 'disabled', 'filter'], { required: true });
  if (!object) return undefined;
  const filterField = object.child('filter').object(['expression']);
  const expression = filterField?.child('expression').string({ required: true, nonEmpty: true });
  if (expression !== undefined) {
    const compiled = compileFilter(expression);
    if ('error' in compiled)
      filterField?.child('expression').error(`${compiled.error} in ${JSON.stringify(expression)}`);
  }
  return {
    mode: mode(object.child('match')),
    providers: providers(object.child('providers')),
    disabled: object.child('disabled').boolean(),
    filter: expression,
  };
}

function metricOverride(field: Field): MetricOverride | undefined {
  const object = field.object(['match', 'disabled', 'tagOverrides'], { required: true });
  if (!object) return undefined;
  const match = object.child('match').object(['metric', 'customMetric', 'mode']);
  match?.exclusive(['metric', 'customMetric']);
  const custom = match?.child('customMetric');
  if (custom?.present && custom.string({ nonEmpty: true }) !== undefined)
    custom.warn('custom metrics are not emitted by Ambit: this override concerns none of its metrics');
  const metric =
    match?.child('metric').oneOf([ALL_METRICS, ...Object.keys(ISTIO_METRICS)]) ?? (ALL_METRICS as string);
  const overrides = object.child('tagOverrides');
  if (overrides.present) {
    overrides.map((tag) => {
      const entry = tag.object(['operation', 'value'], { required: true });
      const operation = entry?.child('operation').oneOf(['UPSERT', 'REMOVE'] as const) ?? 'UPSERT';
      const value = entry?.child('value').string();
      if (operation === 'UPSERT' && entry && value === undefined)
        entry.child('value').error('UPSERT needs a value (an expression)');
      if (operation === 'REMOVE' && value !== undefined) entry?.child('value').error('REMOVE takes no value');
      return operation;
    });
    overrides.warn(
      'tag overrides are not applied by Ambit yet (only disabled is): the tags stay as they are',
    );
  }
  return {
    metrics: custom?.present
      ? []
      : metric === ALL_METRICS
        ? Object.values(ISTIO_METRICS).flat()
        : [...(ISTIO_METRICS[metric] ?? [])],
    mode: match?.child('mode').oneOf(MODES) ?? 'CLIENT_AND_SERVER',
    disabled: object.child('disabled').boolean(),
  };
}

function metrics(field: Field): MetricsSpec | undefined {
  const object = field.object(['providers', 'overrides', 'reportingInterval'], { required: true });
  if (!object) return undefined;
  object.child('reportingInterval').duration();
  return {
    providers: providers(object.child('providers')),
    overrides: object.child('overrides').list(metricOverride) ?? [],
  };
}

function parseTelemetry(doc: Field): TelemetrySpec | undefined {
  const spec = doc
    .child('spec')
    .object(['selector', 'targetRef', 'targetRefs', 'tracing', 'accessLogging', 'metrics']);
  const fields = spec ?? doc.child('spec');
  spec?.exclusive(['selector', 'targetRef', 'targetRefs']);
  const targetRefs: PolicyTargetRef[] = [];
  if (fields.child('targetRef').present) {
    const single = policyTargetRef(fields.child('targetRef'));
    if (single) targetRefs.push(single);
  }
  targetRefs.push(...(fields.child('targetRefs').list(policyTargetRef) ?? []));
  const parsedTracing = fields.child('tracing').list(tracing) ?? [];
  if (parsedTracing.length > 1)
    fields.child('tracing').error('only one tracing entry is supported (Istio reads the first)');
  return {
    selector: fields.child('selector').present ? workloadSelector(fields.child('selector')) : undefined,
    targetRefs,
    tracing: parsedTracing,
    accessLogging: fields.child('accessLogging').list(accessLogging) ?? [],
    metrics: fields.child('metrics').list(metrics) ?? [],
  };
}

export const TELEMETRY: KindDefinition<TelemetrySpec> = {
  kind: 'Telemetry',
  apiVersions: ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1'],
  namespaced: true,
  parse: (doc: Field) => parseTelemetry(doc),
};

/**
 * A waypoint's telemetry from the mesh config and the Telemetry objects, resolved as Istio does: the mesh
 * level (the root namespace, no selector), then the waypoint's namespace, then the objects that select the
 * waypoint (a selector over its pods' labels, or a `targetRef` to its Gateway); each level overrides what
 * it sets. Several objects at one level: the first by name wins, so the result never depends on order.
 * Objects that target a Service are per-service config, which a shared waypoint does not take (yet).
 * A pure function, tested as a table.
 */

import {
  BUILTIN_ACCESS_LOG_PROVIDER,
  type ExtensionProvider,
  type MeshConfig,
} from '../../core/config/kinds/mesh-config.ts';
import type { CustomTag, TelemetrySpec } from '../../core/config/kinds/telemetry.ts';
import { GATEWAY_NAME_LABEL, ROOT_NAMESPACE } from '../../core/labels.ts';
import type { NamedConfig, WaypointRef } from '../../core/model/index.ts';
import type { AccessLogConfig, ProxyTelemetry, TracingConfig } from '../../core/observe/telemetry-config.ts';
import { STDOUT_PATH } from '../../core/observe/telemetry-config.ts';

/** Istio's sampling when neither the mesh nor a Telemetry object says (its `defaultConfig.tracing.sampling`). */
export const DEFAULT_SAMPLING_PERCENTAGE = 1;

export interface TelemetryInputs {
  meshConfig: MeshConfig;
  telemetries: readonly NamedConfig<TelemetrySpec>[];
}

function isGeneral(spec: TelemetrySpec): boolean {
  return spec.selector === undefined && spec.targetRefs.length === 0;
}

function selects(spec: TelemetrySpec, waypoint: WaypointRef): boolean {
  if (spec.selector !== undefined) {
    const labels: Record<string, string> = { [GATEWAY_NAME_LABEL]: waypoint.name };
    return Object.entries(spec.selector).every(([key, value]) => labels[key] === value);
  }
  return spec.targetRefs.some((ref) => ref.kind === 'Gateway' && ref.name === waypoint.name);
}

/** The Telemetry objects that apply to a waypoint, mesh level first. */
export function telemetryLevels(
  telemetries: readonly NamedConfig<TelemetrySpec>[],
  waypoint: WaypointRef,
): TelemetrySpec[] {
  const first = (matching: NamedConfig<TelemetrySpec>[]) =>
    matching.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0]?.spec;
  const mesh = first(telemetries.filter((t) => t.namespace === ROOT_NAMESPACE && isGeneral(t.spec)));
  const namespace =
    waypoint.namespace === ROOT_NAMESPACE
      ? undefined
      : first(telemetries.filter((t) => t.namespace === waypoint.namespace && isGeneral(t.spec)));
  const own = first(
    telemetries.filter((t) => t.namespace === waypoint.namespace && selects(t.spec, waypoint)),
  );
  return [mesh, namespace, own].filter((spec): spec is TelemetrySpec => spec !== undefined);
}

export function waypointTelemetry(inputs: TelemetryInputs, waypoint: WaypointRef): ProxyTelemetry {
  const levels = telemetryLevels(inputs.telemetries, waypoint);
  return {
    tracing: resolveTracing(inputs.meshConfig, levels),
    accessLogs: resolveAccessLogs(inputs.meshConfig, levels),
    disabledMetrics: resolveDisabledMetrics(levels),
  };
}

function provider(mesh: MeshConfig, name: string): ExtensionProvider | undefined {
  return mesh.extensionProviders.find((candidate) => candidate.name === name);
}

function resolveTracing(mesh: MeshConfig, levels: readonly TelemetrySpec[]): TracingConfig | undefined {
  let providers = mesh.enableTracing ? mesh.defaultProviders.tracing : [];
  let sampling = DEFAULT_SAMPLING_PERCENTAGE;
  let disabled = false;
  let customTags: Record<string, CustomTag> = {};
  for (const level of levels) {
    const tracing = level.tracing[0];
    if (tracing === undefined) continue;
    if (tracing.providers !== undefined && tracing.providers.length > 0) providers = tracing.providers;
    if (tracing.randomSamplingPercentage !== undefined) sampling = tracing.randomSamplingPercentage;
    if (tracing.disableSpanReporting !== undefined) disabled = tracing.disableSpanReporting;
    customTags = { ...customTags, ...tracing.customTags };
  }
  const name = providers[0];
  if (disabled || name === undefined) return undefined;
  const found = provider(mesh, name);
  if (found?.kind !== 'opentelemetry') return undefined;
  const host = found.service.includes(':') ? `[${found.service}]` : found.service;
  return {
    provider: name,
    endpoint: `http://${host}:${found.port}${found.path}`,
    samplingPercentage: sampling,
    customTags,
  };
}

function resolveAccessLogs(mesh: MeshConfig, levels: readonly TelemetrySpec[]): AccessLogConfig[] {
  const defaults =
    mesh.defaultProviders.accessLogging.length > 0
      ? mesh.defaultProviders.accessLogging
      : mesh.accessLogFile !== ''
        ? [BUILTIN_ACCESS_LOG_PROVIDER]
        : [];
  // Per provider: on or off, and its filter; lower levels override what upper ones said of a provider.
  const state = new Map<string, { disabled: boolean; filter: string | undefined }>();
  for (const name of defaults) state.set(name, { disabled: false, filter: undefined });
  for (const level of levels) {
    for (const entry of level.accessLogging) {
      const names = entry.providers !== undefined && entry.providers.length > 0 ? entry.providers : defaults;
      for (const name of names) state.set(name, { disabled: entry.disabled ?? false, filter: entry.filter });
    }
  }
  const logs: AccessLogConfig[] = [];
  for (const [name, { disabled, filter }] of state) {
    if (disabled) continue;
    const config = accessLogProvider(mesh, name);
    if (config !== undefined) logs.push({ ...config, ...(filter === undefined ? {} : { filter }) });
  }
  return logs;
}

/** The built-in `envoy` provider is the mesh-wide `accessLogFile` settings; others name a file log. */
function accessLogProvider(mesh: MeshConfig, name: string): AccessLogConfig | undefined {
  if (name === BUILTIN_ACCESS_LOG_PROVIDER && provider(mesh, name) === undefined) {
    const json = mesh.accessLogEncoding === 'JSON';
    return {
      provider: name,
      path: mesh.accessLogFile || STDOUT_PATH,
      encoding: mesh.accessLogEncoding,
      ...(mesh.accessLogFormat === undefined
        ? {}
        : json
          ? { labels: JSON.parse(mesh.accessLogFormat) as Record<string, string> }
          : { format: mesh.accessLogFormat }),
    };
  }
  const found = provider(mesh, name);
  if (found?.kind !== 'envoyFileAccessLog') return undefined;
  if (found.labels !== undefined)
    return { provider: name, path: found.path, encoding: 'JSON', labels: found.labels };
  return { provider: name, path: found.path, encoding: 'TEXT', format: found.text };
}

function resolveDisabledMetrics(levels: readonly TelemetrySpec[]): string[] {
  const disabled = new Map<string, boolean>();
  for (const level of levels) {
    for (const entry of level.metrics) {
      for (const override of entry.overrides) {
        if (override.disabled === undefined) continue;
        for (const metric of override.metrics) disabled.set(metric, override.disabled);
      }
    }
  }
  return [...disabled].filter(([, off]) => off).map(([metric]) => metric);
}

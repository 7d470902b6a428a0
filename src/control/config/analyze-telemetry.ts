/**
 * Cross-resource checks of the Telemetry objects against the mesh config (warnings, as `analyze.ts`'s): a
 * provider that no `extensionProviders` entry defines, or of the wrong kind, selects nothing; a `targetRefs`
 * to a Service is per-service config that waypoints do not take yet.
 */
import type { ConfigIssue } from '../../core/config/issues.ts';
import type { ConfigMapSpec } from '../../core/config/kinds/config-objects.ts';
import {
  BUILTIN_ACCESS_LOG_PROVIDER,
  DEFAULT_MESH_CONFIG,
  type ExtensionProvider,
  isMeshConfigMap,
} from '../../core/config/kinds/mesh-config.ts';
import type { TelemetrySpec } from '../../core/config/kinds/telemetry.ts';
import type { Resource } from '../../core/config/resource.ts';

type Warn = (resource: Resource, path: string, message: string) => ConfigIssue;

export function telemetryWarnings(resources: readonly Resource[], warning: Warn): ConfigIssue[] {
  const map = resources.find(
    (resource) => resource.kind === 'ConfigMap' && isMeshConfigMap(resource.metadata),
  );
  const mesh = (map?.spec as ConfigMapSpec | undefined)?.meshConfig ?? DEFAULT_MESH_CONFIG;
  const providers = new Map<string, ExtensionProvider['kind']>(
    mesh.extensionProviders.map((provider) => [provider.name, provider.kind]),
  );
  const issues: ConfigIssue[] = [];
  const check = (resource: Resource, path: string, name: string, kind: ExtensionProvider['kind']) => {
    if (kind === 'envoyFileAccessLog' && name === BUILTIN_ACCESS_LOG_PROVIDER) return;
    const found = providers.get(name);
    if (found === undefined)
      issues.push(
        warning(resource, path, `provider ${name} is not among the mesh config's extensionProviders`),
      );
    else if (found !== kind)
      issues.push(warning(resource, path, `provider ${name} is ${found}, not ${kind}: it is not used here`));
  };
  for (const resource of resources) {
    if (resource.kind !== 'Telemetry') continue;
    const spec = resource.spec as TelemetrySpec;
    spec.tracing.forEach((entry, i) => {
      for (const [j, name] of (entry.providers ?? []).entries())
        check(resource, `spec.tracing[${i}].providers[${j}].name`, name, 'opentelemetry');
    });
    spec.accessLogging.forEach((entry, i) => {
      for (const [j, name] of (entry.providers ?? []).entries())
        check(resource, `spec.accessLogging[${i}].providers[${j}].name`, name, 'envoyFileAccessLog');
    });
    spec.targetRefs.forEach((ref, i) => {
      if (ref.kind !== 'Gateway')
        issues.push(
          warning(
            resource,
            `spec.targetRefs[${i}]`,
            `a ${ref.kind} target is per-service telemetry, which waypoints do not apply yet: target the waypoint's Gateway`,
          ),
        );
    });
  }
  return issues;
}

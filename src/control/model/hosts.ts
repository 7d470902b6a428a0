/**
 * Hostnames in routing config as Istio reads them: short names are relative to the config's namespace, a
 * `*.suffix` pattern covers the hosts under it, and `exportTo` limits which namespaces see a config object.
 */
import { hostCovers } from '../../core/config/kinds/istio-networking.ts';
import { CLUSTER_DOMAIN } from '../../core/labels.ts';

/** Istio's short-name rule: a host without a dot is a Service in the config's own namespace. */
export function resolveHost(host: string, namespace: string): string {
  return host === '*' || host.includes('.') ? host : `${host}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

/**
 * How specifically `pattern` (written in `namespace`) names `hostname`: undefined when it does not cover it;
 * higher is more specific (an exact name beats every wildcard; a longer `*.suffix` beats a shorter one).
 */
export function hostSpecificity(pattern: string, namespace: string, hostname: string): number | undefined {
  const resolved = resolveHost(pattern, namespace);
  if (!hostCovers(resolved, hostname)) return undefined;
  return resolved === hostname ? Number.MAX_SAFE_INTEGER : resolved.length;
}

/** Istio's `exportTo`: empty or `*` is every namespace, `.` the object's own, `~` none, else the names. */
export function exportedTo(exportTo: readonly string[], ownNamespace: string, viewer: string): boolean {
  if (exportTo.length === 0) return true;
  return exportTo.some(
    (entry) => entry === '*' || entry === viewer || (entry === '.' && ownNamespace === viewer),
  );
}

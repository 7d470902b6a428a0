/**
 * The command-line side of `ambit explain` and `ambit authz check`: a source (a pod, a principal or an
 * IP), a destination with its port, and the request flags, turned into a trace query.
 */
import { UsageError } from '../../core/errors.ts';
import type { MeshSnapshots } from '../../core/explain/mesh-snapshots.ts';
import { canonicalIp } from '../../core/net/ip.ts';
import { findWorkload, type TraceRequest, type TraceSource } from './trace.ts';

/** `host:port`, `[v6]:port`, or `host` (then `defaultPort`). */
export function splitTarget(text: string, defaultPort: number): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1]!, port: portOf(bracketed[2], defaultPort, text) };
  const colon = text.lastIndexOf(':');
  if (colon < 0 || text.indexOf(':') !== colon) return { host: text, port: defaultPort };
  return { host: text.slice(0, colon), port: portOf(text.slice(colon + 1), defaultPort, text) };
}

function portOf(text: string | undefined, fallback: number, whole: string): number {
  if (text === undefined) return fallback;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535))
    throw new UsageError(`${JSON.stringify(whole)}: the port must be 1-65535`);
  return port;
}

/** `k=v` or `k: v` header flags, names lowercased. */
export function parseHeaders(flags: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const flag of flags) {
    const match = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(flag);
    if (!match) throw new UsageError(`--header takes name=value, not ${JSON.stringify(flag)}`);
    headers[match[1]!.toLowerCase()] = match[2]!;
  }
  return headers;
}

export function traceRequest(values: {
  path?: string | undefined;
  method?: string | undefined;
  header?: string[] | undefined;
}): TraceRequest | undefined {
  if (values.path === undefined && values.method === undefined && !values.header?.length) return undefined;
  const path = values.path ?? '/';
  if (!path.startsWith('/')) throw new UsageError(`--path must start with /, not ${JSON.stringify(path)}`);
  return { method: (values.method ?? 'GET').toUpperCase(), path, headers: parseHeaders(values.header ?? []) };
}

/** A principal as policies write it (`cluster.local/ns/x/sa/y`) or a SPIFFE URI: a simulated source. */
function principalIdentity(text: string): string | undefined {
  if (text.startsWith('spiffe://')) return text;
  return /^[^/]+\/ns\/[^/]+\/sa\/[^/]+$/.test(text) ? `spiffe://${text}` : undefined;
}

/** The source a user named: a principal, a pod of the mesh (`ns/name` or `name` with -n), or an address. */
export function resolveSource(mesh: MeshSnapshots, text: string, namespace: string | undefined): TraceSource {
  const identity = principalIdentity(text);
  if (identity) return { kind: 'identity', identity };
  const snapshot = [...mesh.nodes.values()][0];
  const workload = snapshot ? findWorkload(snapshot, text, namespace) : undefined;
  if (workload) return { kind: 'workload', workload };
  if (canonicalIp(text) !== undefined) return { kind: 'address', ip: text };
  throw new UsageError(
    `no pod ${JSON.stringify(text)}${namespace ? ` in namespace ${namespace}` : ''} in the mesh (give ns/name, -n, a principal or an IP)`,
  );
}

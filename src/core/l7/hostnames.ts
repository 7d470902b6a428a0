/**
 * Gateway API hostname semantics, as pure functions: which names a route serves on a listener (the
 * intersection of the listener's hostname and the route's `hostnames`), and the matcher the data plane
 * applies to the Host header or the SNI. A wildcard `*.example.com` stands for one or more labels before
 * `.example.com` (so it matches `a.b.example.com`, not `example.com`); names compare case-insensitively.
 */
import type { StringMatcher } from './types.ts';

/** Any hostname: a listener without one and a route without `hostnames`. */
export const ANY_HOSTNAME = 'any';
export type Hostnames = readonly string[] | typeof ANY_HOSTNAME;

/** Whether every name `host` stands for (itself, or all a wildcard covers) is matched by `pattern`. */
export function covers(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (!p.startsWith('*.')) return p === h;
  const suffix = p.slice(1);
  if (h.startsWith('*.')) return h === p || h.endsWith(suffix);
  return h.endsWith(suffix) && h.length > suffix.length;
}

/**
 * The hostnames a route serves through a listener: the route's own where the listener's covers them, the
 * listener's where a route wildcard covers it. An empty list means the route does not attach there
 * (`NoMatchingListenerHostname`).
 */
export function attachedHostnames(listener: string | undefined, route: readonly string[]): Hostnames {
  if (route.length === 0) return listener === undefined ? ANY_HOSTNAME : [listener];
  if (listener === undefined) return route;
  const out: string[] = [];
  for (const name of route) {
    const served = covers(listener, name) ? name : covers(name, listener) ? listener : undefined;
    if (served !== undefined && !out.includes(served)) out.push(served);
  }
  return out;
}

/** Gateway API precedence among hostnames: an exact name before wildcards, a longer one before a shorter. */
export function hostnameRank(hostname: string | undefined): [number, number] {
  if (hostname === undefined) return [0, 0];
  return hostname.startsWith('*.') ? [1, hostname.length] : [2, hostname.length];
}

/**
 * The matcher for a hostname against a Host header (which may carry a port) or an SNI (which does not):
 * RE2, case-insensitive, the whole value.
 */
export function hostnameMatcher(hostname: string): StringMatcher {
  const wildcard = hostname.startsWith('*.');
  const rest = escapeRegex(wildcard ? hostname.slice(1) : hostname);
  return { kind: 'regex', regex: `(?i)${wildcard ? `[^:]+${rest}` : rest}(:[0-9]+)?` };
}

/** Whether a concrete name (an SNI, a Host without port) is one the hostname stands for. */
export function hostnameMatches(hostname: string, name: string): boolean {
  return !name.startsWith('*.') && covers(hostname, name);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

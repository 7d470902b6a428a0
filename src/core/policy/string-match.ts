/**
 * The string match of AuthorizationPolicy fields (principals, namespaces, hosts, paths): exact, `*` (any
 * non-empty value), `prefix*` or `*suffix`. An absent value never matches.
 */
export function stringMatches(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (pattern === '*') return value !== '';
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

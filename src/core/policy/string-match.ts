/**
 * The string match of AuthorizationPolicy fields (principals, namespaces, hosts, methods, paths): exact, `*`
 * (any non-empty value), `prefix*` or `*suffix`, and for paths Envoy's URI templates (`{*}`, `{**}`). One
 * reading of the pattern (`policyMatcher`, done once by the control plane for waypoints) and one evaluation
 * (`policyMatcherMatches`), shared by the ztunnel's L4 and the waypoint's L7 authorization.
 */

/**
 * A parsed pattern. `template` is an Envoy URI template: `{*}` takes one whole non-empty segment, `{**}`
 * (last only) whatever remains; `segments` is the pattern split on `/` after the leading one.
 */
export type PolicyMatcher =
  | { kind: 'exact'; value: string }
  | { kind: 'prefix'; value: string }
  | { kind: 'suffix'; value: string }
  | { kind: 'any' }
  | { kind: 'template'; segments: string[] };

/** Reads an Istio pattern; `{` makes a URI template only where `templates` allows it (paths). */
export function policyMatcher(pattern: string, options: { templates?: boolean } = {}): PolicyMatcher {
  if (pattern === '*') return { kind: 'any' };
  if (options.templates && pattern.includes('{')) {
    return { kind: 'template', segments: pattern.slice(1).split('/') };
  }
  if (pattern.endsWith('*')) return { kind: 'prefix', value: pattern.slice(0, -1) };
  if (pattern.startsWith('*')) return { kind: 'suffix', value: pattern.slice(1) };
  return { kind: 'exact', value: pattern };
}

export function policyMatcherMatches(matcher: PolicyMatcher, value: string): boolean {
  switch (matcher.kind) {
    case 'exact':
      return value === matcher.value;
    case 'prefix':
      return value.startsWith(matcher.value);
    case 'suffix':
      return value.endsWith(matcher.value);
    case 'any':
      return value !== '';
    case 'template':
      return templateMatches(matcher.segments, value);
  }
}

/** A raw pattern against a value the subject may lack (an absent value never matches). */
export function stringMatches(pattern: string, value: string | undefined): boolean {
  return value !== undefined && policyMatcherMatches(policyMatcher(pattern), value);
}

function templateMatches(pattern: readonly string[], path: string): boolean {
  if (!path.startsWith('/')) return false;
  const segments = path.slice(1).split('/');
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i];
    if (expected === '{**}') return true;
    const actual = segments[i];
    if (actual === undefined) return false;
    if (expected === '{*}' ? actual === '' : actual !== expected) return false;
  }
  return segments.length === pattern.length;
}

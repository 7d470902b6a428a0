/**
 * Regular expressions as Istio's YAML writes them: RE2 syntax (what Envoy runs). JavaScript's engine accepts
 * most of RE2, but differs at the edges both ways, so this module translates the RE2-only spellings users
 * write (`(?i)` at the start, `(?P<name>...)`, `\A`, `\z`, `[[:alpha:]]`) and refuses the JavaScript-only
 * constructs that RE2 rejects (lookaround, backreferences), so that a pattern accepted here means the same
 * thing the user's Istio would have made of it. The control plane validates with it; the waypoint compiles
 * with it.
 */

export type Re2Result = { regex: RegExp; error?: undefined } | { regex?: undefined; error: string };

/** Istio's (Envoy's) limit on regex size, approximated by length as Istio does. */
export const MAX_REGEX_LENGTH = 1024;

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/**
 * Compiles an RE2 pattern. `fullMatch` anchors it at both ends, which is how Envoy applies regexes to paths,
 * headers and hosts (the whole value must match).
 */
export function compileRe2(pattern: string, options: { fullMatch?: boolean } = {}): Re2Result {
  if (pattern === '') return { error: 'regex must not be empty' };
  if (pattern.length > MAX_REGEX_LENGTH) {
    return { error: `regex is too long (${pattern.length} characters, at most ${MAX_REGEX_LENGTH})` };
  }
  let source = pattern;
  // Unicode mode only when the pattern uses Unicode classes: it is stricter about escapes (`\-` outside a
  // class) than RE2, which would refuse patterns Istio accepts.
  let flags = /\\[pP]/.test(pattern) ? 'u' : '';
  const leading = /^\(\?([imsU]+)\)/.exec(source);
  if (leading) {
    if (leading[1]!.includes('U')) return { error: 'the (?U) flag (ungreedy) is not supported' };
    flags += [...new Set(leading[1]!)].join('');
    source = source.slice(leading[0].length);
  }
  if (/\(\?<?[=!]/.test(source)) {
    return { error: 'lookahead and lookbehind assertions are not supported by RE2 (Istio uses RE2 syntax)' };
  }
  if (/(^|[^\\])(\\\\)*\\([1-9]|k<)/.test(source)) {
    return { error: 'backreferences are not supported by RE2 (Istio uses RE2 syntax)' };
  }
  source = source
    .replace(/\(\?P</g, '(?<')
    .replace(/\\([pP])([A-Z])/g, '\\$1{$2}')
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '$')
    .replace(/\[:(\^?)([a-z]+):\]/g, (whole, negated: string, name: string) => {
      const chars = POSIX_CLASSES[name];
      // A negated POSIX class inside a bracket expression has no JavaScript equivalent; keep it so that the
      // compile below reports it instead of silently changing its meaning.
      return chars !== undefined && negated === '' ? chars : whole;
    });
  if (/\[:\^?[a-z]+:\]/.test(source)) return { error: 'unsupported POSIX character class' };
  try {
    return { regex: new RegExp(options.fullMatch ? `^(?:${source})$` : source, flags) };
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^Invalid regular expression: /, '') : '';
    return { error: `invalid regex: ${detail}` };
  }
}

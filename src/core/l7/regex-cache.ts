/**
 * RE2 sources from the route table, compiled once per source string on the data plane. The control plane
 * validated every pattern and the client boundary checks them again (`routeTableProblems`), so a pattern
 * that fails here is a bug; it then matches nothing (fail closed) rather than throwing per request.
 */
import { compileRe2 } from '../config/regex.ts';

const NEVER = /(?!)/;
const fullMatches = new Map<string, RegExp>();
const searches = new Map<string, RegExp>();

/** The pattern anchored at both ends, as Envoy applies regexes to paths, headers and hosts. */
export function fullMatchRegex(source: string): RegExp {
  let regex = fullMatches.get(source);
  if (regex === undefined) {
    regex = compileRe2(source, { fullMatch: true }).regex ?? NEVER;
    fullMatches.set(source, regex);
  }
  return regex;
}

/** The pattern unanchored and global, for substitutions (`uriRegexRewrite` replaces every match). */
export function substitutionRegex(source: string): RegExp {
  let regex = searches.get(source);
  if (regex === undefined) {
    const compiled = compileRe2(source).regex;
    regex = compiled ? new RegExp(compiled.source, `${compiled.flags}g`) : NEVER;
    searches.set(source, regex);
  }
  return regex;
}

/** Why a pattern cannot be used, for the client-boundary check; undefined when it compiles. */
export function regexProblem(source: string): string | undefined {
  return compileRe2(source).error;
}

/** What every rule backend offers; the capture facade (`../rules.ts`) picks one and adds the routes. */
import type { CommandRunner, NetnsTarget } from '../exec.ts';
import type { RuleSet } from '../model.ts';

export const BACKEND_NAMES = ['nft', 'iptables-nft', 'iptables-legacy'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
/** What a user may ask for: `iptables` picks the flavour by looking at the target; `auto` picks nft if present. */
export type BackendChoice = BackendName | 'iptables' | 'auto';

export interface RulesListing {
  backend: BackendName;
  installed: boolean;
  /** Our part of the target's rules, as the tool prints it. */
  text: string;
  /** `- line` expected but missing, `+ line` installed but not expected; empty when in sync. */
  drift: string[];
}

export interface RuleBackend {
  readonly name: BackendName;
  apply(runner: CommandRunner, target: NetnsTarget, ruleSet: RuleSet): Promise<void>;
  remove(runner: CommandRunner, target: NetnsTarget, ruleSet: RuleSet): Promise<void>;
  list(runner: CommandRunner, target: NetnsTarget, ruleSet: RuleSet): Promise<RulesListing>;
}

/** Line-level difference of two listings (order-sensitive: rule order is meaning). */
export function lineDrift(expected: string[], actual: string[]): string[] {
  if (expected.length === actual.length && expected.every((line, i) => line === actual[i])) return [];
  const actualSet = new Set(actual);
  const expectedSet = new Set(expected);
  const missing = expected.filter((line) => !actualSet.has(line)).map((line) => `- ${line}`);
  const extra = actual.filter((line) => !expectedSet.has(line)).map((line) => `+ ${line}`);
  // Same lines in another order: report the whole expected order against the actual one.
  if (missing.length === 0 && extra.length === 0) {
    return [...expected.map((line) => `- ${line}`), ...actual.map((line) => `+ ${line}`)];
  }
  return [...missing, ...extra];
}

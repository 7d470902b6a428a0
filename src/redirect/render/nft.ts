/**
 * Renders a rule set for `nft`, in exactly the form `nft list table inet <name>` prints it back (hex marks
 * padded to 8 digits, `tcp dport N` for a protocol plus port, tabs), so that the listing of an installed
 * table compares line for line with the rendering: a difference is real drift, not formatting.
 */
import type { IpFamily } from '../../core/sys/sockaddr.ts';
import type { Action, ChainSpec, Match, Rule, RuleSet } from '../model.ts';
import { sameChain } from '../model.ts';

const hex = (value: number) => `0x${value.toString(16).padStart(8, '0')}`;

export function nftChainName(chain: ChainSpec): string {
  return `${chain.stage}_${chain.hook}`;
}

function chainHeader(chain: ChainSpec): string {
  if (chain.stage === 'mangle') {
    // A route-type output chain re-routes a packet whose mark it changed (the reply-to-agent route).
    return chain.hook === 'output'
      ? 'type route hook output priority mangle; policy accept;'
      : `type filter hook ${chain.hook} priority mangle; policy accept;`;
  }
  const priority = { prerouting: 'dstnat', output: '-100', postrouting: 'srcnat' }[chain.hook];
  return `type nat hook ${chain.hook} priority ${priority}; policy accept;`;
}

function addressSet(prefixes: string[]): string {
  return prefixes.length === 1 ? prefixes[0]! : `{ ${prefixes.join(', ')} }`;
}

function renderMatch(match: Match, rule: Rule): string | undefined {
  const ipKeyword = rule.family === 6 ? 'ip6' : 'ip';
  switch (match.kind) {
    case 'protocol': {
      // nft prints "tcp dport N" for a protocol with a port; the protocol alone is "meta l4proto tcp".
      const withPort = rule.matches.some((other) => other.kind === 'destination-port');
      return withPort ? undefined : `meta l4proto ${match.protocol}`;
    }
    case 'destination-port': {
      const protocol = rule.matches.find((other) => other.kind === 'protocol');
      if (protocol?.kind !== 'protocol') throw new Error('a destination-port match needs a protocol match');
      return `${protocol.protocol} dport ${match.port}`;
    }
    case 'source':
      return `${ipKeyword} saddr ${addressSet(match.prefixes)}`;
    case 'destination':
      return `${ipKeyword} daddr ${addressSet(match.prefixes)}`;
    case 'input-interface':
      return `iifname "${match.name}"`;
    case 'output-interface':
      return `oifname "${match.name}"`;
    case 'mark':
      return `meta mark & ${hex(match.mask)} == ${hex(match.value)}`;
    case 'connmark':
      return `ct mark & ${hex(match.mask)} == ${hex(match.value)}`;
    case 'local-source':
      return 'fib saddr type local';
  }
}

function renderAction(action: Action, family: IpFamily | undefined): string {
  switch (action.kind) {
    case 'return':
      return 'return';
    case 'redirect':
      return `redirect to :${action.port}`;
    case 'set-connmark':
      // (ct mark & ~mask) | value; nft folds the value bits into the and-mask when it prints it back.
      return `ct mark set ct mark & ${hex((~action.mask | action.value) >>> 0)} | ${hex(action.value)}`;
    case 'restore-mark':
      return 'meta mark set ct mark';
    case 'snat':
      return `snat ${family === 6 ? 'ip6' : 'ip'} to ${action.address}`;
  }
}

export function renderNftRule(rule: Rule): string {
  const parts = rule.matches.map((match) => renderMatch(match, rule)).filter((part) => part !== undefined);
  parts.push(renderAction(rule.action, rule.family), `comment "${rule.comment}"`);
  return parts.join(' ');
}

/** The table as `nft list table` prints it; also valid input for `nft -f`. */
export function renderNftTable(ruleSet: RuleSet): string {
  const chains = ruleSet.chains.map((chain) => {
    const rules = ruleSet.rules
      .filter((rule) => sameChain(rule.chain, chain))
      .map((rule) => `\t\t${renderNftRule(rule)}`);
    return [`\tchain ${nftChainName(chain)} {`, `\t\t${chainHeader(chain)}`, ...rules, '\t}'].join('\n');
  });
  return `table inet ${ruleSet.nftTable} {\n${chains.join('\n\n')}\n}\n`;
}

/**
 * One atomic, idempotent transaction: create the table if absent, delete it, define it afresh. Applying
 * twice leaves one copy; a failure anywhere leaves the previous state.
 */
export function renderNftApply(ruleSet: RuleSet): string {
  return `table inet ${ruleSet.nftTable}\ndelete table inet ${ruleSet.nftTable}\n${renderNftTable(ruleSet)}`;
}

/** Removes the table whether or not it exists (the same create-then-delete idiom). */
export function renderNftRemove(ruleSet: RuleSet): string {
  return `table inet ${ruleSet.nftTable}\ndelete table inet ${ruleSet.nftTable}\n`;
}

/**
 * Renders a rule set for `iptables-restore` / `ip6tables-restore --noflush`, one family at a time, with every
 * rule in exactly the form `iptables-save` prints it back (canonical option order: -s -d -i -o -p, then the
 * match modules, then the target), so that listing an installed set compares line for line with rendering.
 *
 * Only chains of our own name are written; the built-in chains get one jump each. `--noflush` keeps
 * everything else in the tables; declaring our chains (":CHAIN - [0:0]") empties them first, so applying
 * twice leaves one copy of our rules. The jumps are added only when missing (the caller reads the current
 * state first); removal deletes the jumps that are there, then our chains.
 */
import type { IpFamily } from '../../core/sys/sockaddr.ts';
import type { Action, ChainSpec, Match, Rule, RuleSet, Stage } from '../model.ts';
import { rulesFor, sameChain } from '../model.ts';

const hex = (value: number) => `0x${value.toString(16)}`;

const HOOK_CHAIN = { prerouting: 'PREROUTING', output: 'OUTPUT', postrouting: 'POSTROUTING' } as const;
const HOOK_SUFFIX = { prerouting: 'PRERT', output: 'OUTPUT', postrouting: 'POSTRT' } as const;

export function iptablesChainName(ruleSet: RuleSet, chain: ChainSpec): string {
  return `${ruleSet.iptablesPrefix}_${HOOK_SUFFIX[chain.hook]}`;
}

/** The rule in the built-in chain that sends packets to our chain. */
export function jumpRule(ruleSet: RuleSet, chain: ChainSpec): string {
  return `-A ${HOOK_CHAIN[chain.hook]} -j ${iptablesChainName(ruleSet, chain)}`;
}

function withPrefixLength(prefix: string, family: IpFamily): string {
  return prefix.includes('/') ? prefix : `${prefix}/${family === 4 ? 32 : 128}`;
}

function quote(text: string): string {
  return `"${text.replace(/(["\\])/g, '\\$1')}"`;
}

function renderAction(action: Action): string {
  switch (action.kind) {
    case 'return':
      return '-j RETURN';
    case 'redirect':
      return `-j REDIRECT --to-ports ${action.port}`;
    case 'set-connmark':
      return `-j CONNMARK --set-xmark ${hex(action.value)}/${hex(action.mask)}`;
    case 'restore-mark':
      return '-j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff';
    case 'snat':
      return `-j SNAT --to-source ${action.address}`;
  }
}

/**
 * The `-A` lines of one rule for one family. A rule with several prefixes becomes one line per prefix
 * (iptables matches one address per rule).
 */
export function renderIptablesRule(ruleSet: RuleSet, rule: Rule, family: IpFamily): string[] {
  const find = <K extends Match['kind']>(kind: K) =>
    rule.matches.find((match): match is Extract<Match, { kind: K }> => match.kind === kind);
  const source = find('source');
  const destination = find('destination');
  const addressCombos: Array<[string | undefined, string | undefined]> = [];
  for (const s of source?.prefixes ?? [undefined]) {
    for (const d of destination?.prefixes ?? [undefined]) addressCombos.push([s, d]);
  }
  const rest: string[] = [];
  const inIf = find('input-interface');
  const outIf = find('output-interface');
  const protocol = find('protocol');
  if (inIf) rest.push(`-i ${inIf.name}`);
  if (outIf) rest.push(`-o ${outIf.name}`);
  if (protocol) rest.push(`-p ${protocol.protocol}`);
  // Match modules in the order the model lists them (iptables-save keeps the given order).
  for (const match of rule.matches) {
    if (match.kind === 'destination-port') {
      if (!protocol) throw new Error('a destination-port match needs a protocol match');
      rest.push(`-m ${protocol.protocol} --dport ${match.port}`);
    } else if (match.kind === 'mark') {
      rest.push(`-m mark --mark ${hex(match.value)}/${hex(match.mask)}`);
    } else if (match.kind === 'connmark') {
      rest.push(`-m connmark --mark ${hex(match.value)}/${hex(match.mask)}`);
    } else if (match.kind === 'local-source') {
      rest.push('-m addrtype --src-type LOCAL');
    }
  }
  rest.push(`-m comment --comment ${quote(rule.comment)}`, renderAction(rule.action));
  const chain = iptablesChainName(ruleSet, rule.chain);
  return addressCombos.map(([s, d]) =>
    [
      `-A ${chain}`,
      ...(s ? [`-s ${withPrefixLength(s, family)}`] : []),
      ...(d ? [`-d ${withPrefixLength(d, family)}`] : []),
      ...rest,
    ].join(' '),
  );
}

/** Our chains of one table, in rendering order. */
export function chainsOfStage(ruleSet: RuleSet, stage: Stage): ChainSpec[] {
  return ruleSet.chains.filter((chain) => chain.stage === stage);
}

/** Every rule line of our chains for one family and table, as iptables-save prints them. */
export function renderIptablesRules(ruleSet: RuleSet, family: IpFamily, stage: Stage): string[] {
  const rules = rulesFor(ruleSet, family);
  return chainsOfStage(ruleSet, stage).flatMap((chain) =>
    rules
      .filter((rule) => sameChain(rule.chain, chain))
      .flatMap((rule) => renderIptablesRule(ruleSet, rule, family)),
  );
}

function stages(ruleSet: RuleSet): Stage[] {
  return [...new Set(ruleSet.chains.map((chain) => chain.stage))];
}

/**
 * Input for `iptables-restore --noflush` (or ip6tables-) that installs the set for one family. `presentJumps`
 * are the jump lines already in the tables (from `iptables-save`); they are not added again.
 */
export function renderIptablesApply(
  ruleSet: RuleSet,
  family: IpFamily,
  presentJumps: ReadonlySet<string>,
): string {
  const blocks = stages(ruleSet).map((stage) => {
    const chains = chainsOfStage(ruleSet, stage);
    return [
      `*${stage}`,
      ...chains.map((chain) => `:${iptablesChainName(ruleSet, chain)} - [0:0]`),
      ...chains
        .map((chain) => jumpRule(ruleSet, chain))
        .filter((jump) => !presentJumps.has(`${stage} ${jump}`)),
      ...renderIptablesRules(ruleSet, family, stage),
      'COMMIT',
    ].join('\n');
  });
  return `${blocks.join('\n')}\n`;
}

/** What `iptables-save` shows of ours: for each table, our chains and every jump line to them. */
export interface IptablesState {
  /** `<table> <line>` of each jump present, once per copy. */
  jumps: string[];
  /** `<table> <chain>` of each of our chains present. */
  chains: string[];
}

/**
 * Input for `iptables-restore --noflush` that removes what `state` says is installed (every copy of each
 * jump, then our chains); undefined when nothing is installed.
 */
export function renderIptablesRemove(ruleSet: RuleSet, state: IptablesState): string | undefined {
  const blocks = stages(ruleSet).flatMap((stage) => {
    const jumps = state.jumps
      .filter((entry) => entry.startsWith(`${stage} `))
      .map((entry) => entry.slice(stage.length + 1));
    const chains = state.chains
      .filter((entry) => entry.startsWith(`${stage} `))
      .map((entry) => entry.slice(stage.length + 1));
    if (jumps.length === 0 && chains.length === 0) return [];
    return [
      [
        `*${stage}`,
        ...jumps.map((jump) => jump.replace(/^-A /, '-D ')),
        ...chains.map((chain) => `-F ${chain}`),
        ...chains.map((chain) => `-X ${chain}`),
        'COMMIT',
      ].join('\n'),
    ];
  });
  return blocks.length === 0 ? undefined : `${blocks.join('\n')}\n`;
}

/** Reads our part of an `iptables-save` dump. */
export function parseIptablesSave(
  ruleSet: RuleSet,
  dump: string,
): IptablesState & { rules: Map<string, string[]> } {
  const ours = new Set(ruleSet.chains.map((chain) => iptablesChainName(ruleSet, chain)));
  const jumpLines = new Set(ruleSet.chains.map((chain) => jumpRule(ruleSet, chain)));
  const state = { jumps: [] as string[], chains: [] as string[], rules: new Map<string, string[]>() };
  let table = '';
  for (const line of dump.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0]!;
      if (ours.has(chain)) state.chains.push(`${table} ${chain}`);
    } else if (jumpLines.has(line)) state.jumps.push(`${table} ${line}`);
    else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      if (ours.has(chain)) {
        const key = `${table} ${chain}`;
        state.rules.set(key, [...(state.rules.get(key) ?? []), line]);
      }
    }
  }
  return state;
}

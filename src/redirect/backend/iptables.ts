/**
 * The iptables backend, in either flavour: `iptables-nft` (the nf_tables kernel API behind the iptables
 * syntax) or `iptables-legacy` (the old xtables API). Each run reads the current state with `*-save` and
 * writes with `*-restore --noflush` (atomic per table), per family.
 */
import { SystemError } from '../../core/errors.ts';
import type { IpFamily } from '../../core/sys/sockaddr.ts';
import { type CommandRunner, hasProgram, inNetns, type NetnsTarget, runChecked, settleAll } from '../exec.ts';
import type { RuleSet } from '../model.ts';
import {
  chainsOfStage,
  iptablesChainName,
  jumpRule,
  parseIptablesSave,
  renderIptablesApply,
  renderIptablesRemove,
  renderIptablesRules,
} from '../render/iptables.ts';
import { lineDrift, type RuleBackend, type RulesListing } from './types.ts';

export type IptablesFlavour = 'nft' | 'legacy';

const FAMILIES: readonly IpFamily[] = [4, 6];

export function iptablesProgram(
  flavour: IptablesFlavour,
  family: IpFamily,
  tool: 'save' | 'restore',
): string {
  return `${family === 4 ? 'iptables' : 'ip6tables'}-${flavour}-${tool}`;
}

async function save(runner: CommandRunner, target: NetnsTarget, flavour: IptablesFlavour, family: IpFamily) {
  return runChecked(runner, inNetns(target, [iptablesProgram(flavour, family, 'save')], undefined, false));
}

function restore(flavour: IptablesFlavour, family: IpFamily, target: NetnsTarget, input: string) {
  // -w: legacy iptables serialises on one lock file for the whole machine (all namespaces).
  return inNetns(target, [iptablesProgram(flavour, family, 'restore'), '-w', '5', '--noflush'], input, true);
}

/** Our part of the rules of one family, in iptables-save form, and the lines expected there. */
function ourLines(
  ruleSet: RuleSet,
  family: IpFamily,
  dump: string,
): { actual: string[]; expected: string[] } {
  const state = parseIptablesSave(ruleSet, dump);
  const actual: string[] = [];
  const expected: string[] = [];
  const stages = [...new Set(ruleSet.chains.map((chain) => chain.stage))];
  for (const stage of stages) {
    actual.push(
      `*${stage}`,
      ...state.jumps.filter((j) => j.startsWith(`${stage} `)).map((j) => j.slice(stage.length + 1)),
    );
    // iptables-save sorts chains by name; compare in the model's order.
    for (const chain of chainsOfStage(ruleSet, stage)) {
      actual.push(...(state.rules.get(`${stage} ${iptablesChainName(ruleSet, chain)}`) ?? []));
    }
    expected.push(
      `*${stage}`,
      ...chainsOfStage(ruleSet, stage).map((chain) => jumpRule(ruleSet, chain)),
      ...renderIptablesRules(ruleSet, family, stage),
    );
  }
  return { actual, expected };
}

export function iptablesBackend(flavour: IptablesFlavour): RuleBackend {
  const name = flavour === 'nft' ? 'iptables-nft' : 'iptables-legacy';
  return {
    name,

    async apply(runner, target, ruleSet) {
      await settleAll(
        FAMILIES.map(async (family) => {
          const state = parseIptablesSave(ruleSet, await save(runner, target, flavour, family));
          const input = renderIptablesApply(ruleSet, family, new Set(state.jumps));
          await runChecked(runner, restore(flavour, family, target, input));
        }),
      );
    },

    async remove(runner, target, ruleSet) {
      await settleAll(
        FAMILIES.map(async (family) => {
          const state = parseIptablesSave(ruleSet, await save(runner, target, flavour, family));
          const input = renderIptablesRemove(ruleSet, state);
          if (input !== undefined) await runChecked(runner, restore(flavour, family, target, input));
        }),
      );
    },

    async list(runner, target, ruleSet): Promise<RulesListing> {
      const text: string[] = [];
      const drift: string[] = [];
      let installed = false;
      for (const family of FAMILIES) {
        const dump = await save(runner, target, flavour, family);
        installed ||= parseIptablesSave(ruleSet, dump).chains.length > 0;
        const { actual, expected } = ourLines(ruleSet, family, dump);
        text.push(`# IPv${family} (${iptablesProgram(flavour, family, 'save')})`, ...actual);
        drift.push(...lineDrift(expected, actual).map((line) => `${line} (IPv${family})`));
      }
      return { backend: name, installed, text: `${text.join('\n')}\n`, drift };
    },
  };
}

/**
 * Which flavour to use in a namespace: the one already holding rules there (ours first), so we never split
 * a pod's rules across two kernel APIs; otherwise the machine's default `iptables`.
 */
export async function detectIptablesFlavour(
  runner: CommandRunner,
  target: NetnsTarget,
  ruleSet: RuleSet,
): Promise<IptablesFlavour> {
  const available = (['nft', 'legacy'] as const).filter((flavour) =>
    hasProgram(iptablesProgram(flavour, 4, 'save')),
  );
  if (available.length === 0)
    throw new SystemError('neither iptables-nft nor iptables-legacy is installed', 'ENOENT');
  if (available.length === 1) return available[0]!;
  const dumps = await Promise.all(
    available.map(async (flavour) => ({ flavour, dump: await save(runner, target, flavour, 4) })),
  );
  for (const { flavour, dump } of dumps) {
    if (parseIptablesSave(ruleSet, dump).chains.length > 0) return flavour;
  }
  const used = dumps.filter(({ dump }) => /^-A /m.test(dump));
  if (used.length === 1) return used[0]!.flavour;
  const version = await runChecked(runner, { argv: ['iptables', '--version'], mutates: false });
  return /legacy/.test(version) ? 'legacy' : 'nft';
}

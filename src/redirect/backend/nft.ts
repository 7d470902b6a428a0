/** The native nftables backend: one table of our own in family inet (IPv4 and IPv6 together). */
import { inNetns, runChecked } from '../exec.ts';
import { renderNftApply, renderNftRemove, renderNftTable } from '../render/nft.ts';
import { lineDrift, type RuleBackend } from './types.ts';

const significant = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

export const nftBackend: RuleBackend = {
  name: 'nft',

  async apply(runner, target, ruleSet) {
    await runChecked(runner, inNetns(target, ['nft', '-f', '-'], renderNftApply(ruleSet), true));
  },

  async remove(runner, target, ruleSet) {
    await runChecked(runner, inNetns(target, ['nft', '-f', '-'], renderNftRemove(ruleSet), true));
  },

  async list(runner, target, ruleSet) {
    const output = await runner.run(
      inNetns(target, ['nft', 'list', 'table', 'inet', ruleSet.nftTable], undefined, false),
    );
    const expected = significant(renderNftTable(ruleSet));
    if (output.status !== 0) {
      if (!/No such file or directory/.test(output.stderr)) {
        throw new Error(`nft list table inet ${ruleSet.nftTable} failed: ${output.stderr.trim()}`);
      }
      return { backend: 'nft', installed: false, text: '', drift: lineDrift(expected, []) };
    }
    return {
      backend: 'nft',
      installed: true,
      text: output.stdout,
      drift: lineDrift(expected, significant(output.stdout)),
    };
  },
};

/** Applying, removing and listing the policy routes of a rule set (`ip -batch`, one run per family). */
import { SystemError } from '../core/errors.ts';
import type { IpFamily } from '../core/sys/sockaddr.ts';
import { type CommandRunner, inNetns, type NetnsTarget, runChecked, settleAll } from './exec.ts';
import type { RuleSet } from './model.ts';
import {
  type BatchLine,
  expectedRoutesListing,
  renderRoutesApply,
  renderRoutesList,
  renderRoutesRemove,
} from './render/policy-routes.ts';

const FAMILIES: readonly IpFamily[] = [4, 6];

/**
 * Runs the lines with `-force` (go on after a failure) and accepts a failed line only when its message says
 * the line's goal already holds ("File exists" for an add, "No such ..." for a delete).
 */
async function runBatch(runner: CommandRunner, target: NetnsTarget, family: IpFamily, lines: BatchLine[]) {
  const input = `${lines.map((line) => line.command).join('\n')}\n`;
  const output = await runner.run(
    inNetns(target, ['ip', `-${family}`, '-force', '-batch', '-'], input, true),
  );
  if (output.status === 0) return;
  let messages: string[] = [];
  const failures: string[] = [];
  for (const text of output.stderr.split('\n')) {
    const failed = /^Command failed -:(\d+)$/.exec(text.trim());
    if (!failed) {
      if (text.trim()) messages.push(text.trim());
      continue;
    }
    const line = lines[Number(failed[1]) - 1];
    const message = messages.join(' ');
    messages = [];
    if (!line?.alreadyDone?.test(message)) failures.push(`ip -${family} ${line?.command ?? '?'}: ${message}`);
  }
  if (failures.length > 0 || messages.length > 0) {
    throw new SystemError(`policy routing failed: ${[...failures, ...messages].join('; ')}`);
  }
}

export async function applyRoutes(
  runner: CommandRunner,
  target: NetnsTarget,
  ruleSet: RuleSet,
): Promise<void> {
  if (ruleSet.policyRoutes.length === 0) return;
  await settleAll(FAMILIES.map((family) => runBatch(runner, target, family, renderRoutesApply(ruleSet))));
}

export async function removeRoutes(
  runner: CommandRunner,
  target: NetnsTarget,
  ruleSet: RuleSet,
): Promise<void> {
  if (ruleSet.policyRoutes.length === 0) return;
  await settleAll(FAMILIES.map((family) => runBatch(runner, target, family, renderRoutesRemove(ruleSet))));
}

export interface RoutesListing {
  text: string;
  drift: string[];
}

export async function listRoutes(
  runner: CommandRunner,
  target: NetnsTarget,
  ruleSet: RuleSet,
): Promise<RoutesListing> {
  if (ruleSet.policyRoutes.length === 0) return { text: '', drift: [] };
  const text: string[] = [];
  const drift: string[] = [];
  for (const family of FAMILIES) {
    const input = `${renderRoutesList(ruleSet)
      .map((line) => line.command)
      .join('\n')}\n`;
    const stdout = await runChecked(
      runner,
      inNetns(target, ['ip', `-${family}`, '-batch', '-'], input, false),
    );
    const actual = stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
    text.push(`# IPv${family} policy routes`, ...actual);
    const expected = expectedRoutesListing(ruleSet, family);
    drift.push(
      ...expected.filter((line) => !actual.includes(line)).map((line) => `- ${line} (IPv${family})`),
      ...actual.filter((line) => !expected.includes(line)).map((line) => `+ ${line} (IPv${family})`),
    );
  }
  return { text: `${text.join('\n')}\n`, drift };
}

/**
 * Installing, removing and listing a rule set (by default the in-pod capture rules) in a namespace, with
 * the backend chosen automatically or by the caller. What the agent and the CLI both call.
 */
import { UsageError } from '../core/errors.ts';
import { Netns } from '../core/sys/netns-socket.ts';
import { detectIptablesFlavour, iptablesBackend } from './backend/iptables.ts';
import { nftBackend } from './backend/nft.ts';
import { BACKEND_NAMES, type BackendChoice, type RuleBackend, type RulesListing } from './backend/types.ts';
import { type CommandRunner, createRunner, hasProgram, type NetnsTarget, settleAll } from './exec.ts';
import { buildCaptureRules, type RuleSet } from './model.ts';
import { applyRoutes, listRoutes, type RoutesListing, removeRoutes } from './policy-routes.ts';

export type { BackendChoice, BackendName, RulesListing } from './backend/types.ts';

/** Environment variable that picks the backend when no flag does (`nft`, `iptables`, `iptables-nft`...). */
export const BACKEND_ENV = 'AMBIT_REDIRECT_BACKEND';

export interface RulesOptions {
  backend?: BackendChoice | undefined;
  ruleSet?: RuleSet | undefined;
  runner?: CommandRunner | undefined;
}

export function parseBackendChoice(value: string, source: string): BackendChoice {
  const choices: readonly string[] = ['auto', 'iptables', ...BACKEND_NAMES];
  if (!choices.includes(value))
    throw new UsageError(`${source} ${JSON.stringify(value)}: expected one of ${choices.join(', ')}`);
  return value as BackendChoice;
}

/** The flag, else $AMBIT_REDIRECT_BACKEND, else auto (nft when installed, iptables otherwise). */
export function backendChoice(flag?: BackendChoice): BackendChoice {
  if (flag !== undefined && flag !== 'auto') return flag;
  const env = process.env[BACKEND_ENV];
  if (env) return parseBackendChoice(env, `$${BACKEND_ENV}`);
  return 'auto';
}

export async function resolveBackend(
  choice: BackendChoice,
  runner: CommandRunner,
  target: NetnsTarget,
  ruleSet: RuleSet,
): Promise<RuleBackend> {
  const picked = choice === 'auto' ? (hasProgram('nft') ? 'nft' : 'iptables') : choice;
  switch (picked) {
    case 'nft':
      return nftBackend;
    case 'iptables-nft':
      return iptablesBackend('nft');
    case 'iptables-legacy':
      return iptablesBackend('legacy');
    case 'iptables':
      return iptablesBackend(await detectIptablesFlavour(runner, target, ruleSet));
  }
}

async function context(target: NetnsTarget, options: RulesOptions) {
  // A clear error (ENOENT, not a network namespace...) before any tool runs.
  Netns.open(target.path).close();
  const ruleSet = options.ruleSet ?? buildCaptureRules();
  const runner = options.runner ?? createRunner();
  const backend = await resolveBackend(backendChoice(options.backend), runner, target, ruleSet);
  return { ruleSet, runner, backend };
}

/**
 * Installs the rules and their policy routes; idempotent. When a fresh install fails, whatever part got
 * installed is removed again before the error is thrown, so a failed apply leaves no half-captured pod.
 * When the rules were already in place (an agent re-applying them after its restart), a failure leaves
 * them there: removing them would let a running pod's traffic flow uncaptured, while rules that point at
 * closed listeners only refuse it (fail closed).
 */
export async function applyRules(
  target: NetnsTarget,
  options: RulesOptions = {},
): Promise<RuleBackend['name']> {
  const { ruleSet, runner, backend } = await context(target, options);
  const installedBefore = (await backend.list(runner, target, ruleSet)).installed;
  try {
    // Independent of each other; run together (each is a tool started in the namespace).
    await settleAll([backend.apply(runner, target, ruleSet), applyRoutes(runner, target, ruleSet)]);
  } catch (error) {
    if (!installedBefore) {
      await Promise.allSettled([
        backend.remove(runner, target, ruleSet),
        removeRoutes(runner, target, ruleSet),
      ]);
    }
    throw error;
  }
  return backend.name;
}

/** Removes exactly what `applyRules` installs; a no-op where nothing is installed. */
export async function removeRules(
  target: NetnsTarget,
  options: RulesOptions = {},
): Promise<RuleBackend['name']> {
  const { ruleSet, runner, backend } = await context(target, options);
  await settleAll([backend.remove(runner, target, ruleSet), removeRoutes(runner, target, ruleSet)]);
  return backend.name;
}

export interface CaptureListing {
  rules: RulesListing;
  routes: RoutesListing;
}

/** What is installed, and how it differs from what `applyRules` would install. */
export async function listRules(target: NetnsTarget, options: RulesOptions = {}): Promise<CaptureListing> {
  const { ruleSet, runner, backend } = await context(target, options);
  return {
    rules: await backend.list(runner, target, ruleSet),
    routes: await listRoutes(runner, target, ruleSet),
  };
}

/**
 * `ambit redirect apply|remove|list|render|agent`: the in-pod capture rules by hand, and a standalone node
 * agent that serves enrollment with the plain capture listeners (until the ztunnel plugs in its own).
 */
import { UsageError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import { CaptureAgent } from '../../redirect/agent.ts';
import type { BackendChoice } from '../../redirect/backend/types.ts';
import { EnrollmentServer } from '../../redirect/enroll/server.ts';
import { createRunner } from '../../redirect/exec.ts';
import { buildCaptureRules, buildNodeProbeRules, type RuleSet } from '../../redirect/model.ts';
import { PlainCaptureHandler } from '../../redirect/plain-capture.ts';
import { renderIptablesApply } from '../../redirect/render/iptables.ts';
import { renderNftTable } from '../../redirect/render/nft.ts';
import { renderRoutesApply } from '../../redirect/render/policy-routes.ts';
import { applyRules, BACKEND_ENV, listRules, parseBackendChoice, removeRules } from '../../redirect/rules.ts';
import { resolveTarget } from '../../redirect/target.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';

const USAGE = `Usage:
  ambit redirect apply|remove|list (--netns <name> | --netns-path <path> | --pid <pid>)
                                   [--backend auto|nft|iptables|iptables-nft|iptables-legacy] [--dry-run] [--check]
  ambit redirect render [--backend nft|iptables] [--node-probes <cidr>,...]
  ambit redirect agent --socket <path> [--backend ...]

  apply    install the in-pod capture rules (idempotent) and their policy route
  remove   remove exactly those (a no-op where there are none)
  list     show what is installed and how it differs from what apply installs
           (--check: exit 3 unless installed and in sync)
  render   print the rules without touching anything (--node-probes: the Kubernetes node-side probe SNAT)
  agent    serve pod enrollment on a unix socket, capturing with plain listeners that report what they see

Every command that runs is printed first, in a form a shell runs identically; under --dry-run the ones that
would change something are printed and not run. The backend is --backend, else $${BACKEND_ENV}, else nft when
installed, else iptables (nf_tables or legacy flavour, whichever the namespace already uses).
`;

const OPTIONS = {
  netns: { type: 'string' },
  'netns-path': { type: 'string' },
  pid: { type: 'string' },
  backend: { type: 'string' },
  'dry-run': { type: 'boolean' },
  check: { type: 'boolean' },
  'node-probes': { type: 'string' },
  socket: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    { args: argv, options: OPTIONS, allowPositionals: true },
    USAGE,
  );
  if (printedHelp(values, USAGE)) return 0;
  const [action, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}\n\n${USAGE}`);
  const backend = values.backend === undefined ? undefined : parseBackendChoice(values.backend, '--backend');
  switch (action) {
    case 'apply':
    case 'remove':
    case 'list':
      return rules(action, values, backend);
    case 'render':
      return render(backend, values['node-probes']);
    case 'agent':
      if (values.socket === undefined) throw new UsageError(`agent needs --socket <path>\n\n${USAGE}`);
      return agent(values.socket, backend);
    default:
      throw new UsageError(
        `${action === undefined ? 'missing action' : `unknown action ${JSON.stringify(action)}`}\n\n${USAGE}`,
      );
  }
}

async function rules(
  action: 'apply' | 'remove' | 'list',
  values: { netns?: string; 'netns-path'?: string; pid?: string; 'dry-run'?: boolean; check?: boolean },
  backend: BackendChoice | undefined,
): Promise<number> {
  const target = resolveTarget({ name: values.netns, path: values['netns-path'], pid: values.pid });
  const runner = createRunner({
    dryRun: values['dry-run'],
    echo: action === 'list' ? undefined : (text) => process.stdout.write(`${text}\n`),
  });
  if (action === 'apply') {
    const used = await applyRules(target, { backend, runner });
    process.stdout.write(`# ${values['dry-run'] ? 'would apply' : 'applied'} with ${used}\n`);
    return 0;
  }
  if (action === 'remove') {
    const used = await removeRules(target, { backend, runner });
    process.stdout.write(`# ${values['dry-run'] ? 'would remove' : 'removed'} with ${used}\n`);
    return 0;
  }
  const listing = await listRules(target, { backend, runner });
  const drift = [...listing.rules.drift, ...listing.routes.drift];
  process.stdout.write(`# backend: ${listing.rules.backend}\n${listing.rules.text}${listing.routes.text}`);
  const status = !listing.rules.installed ? 'not installed' : drift.length === 0 ? 'in sync' : 'DRIFT';
  const details = listing.rules.installed ? drift.map((line) => `${line}\n`).join('') : '';
  process.stdout.write(`# ${status}\n${details}`);
  return values.check && status !== 'in sync' ? 3 : 0;
}

function render(backend: BackendChoice | undefined, nodeProbes: string | undefined): number {
  const ruleSet: RuleSet =
    nodeProbes === undefined
      ? buildCaptureRules()
      : buildNodeProbeRules(nodeProbes.split(',').map((p) => p.trim()));
  const iptables = backend?.startsWith('iptables') === true;
  if (iptables) {
    for (const family of [4, 6] as const) {
      process.stdout.write(`# ${family === 4 ? 'iptables' : 'ip6tables'}-restore --noflush\n`);
      process.stdout.write(renderIptablesApply(ruleSet, family, new Set()));
    }
  } else {
    process.stdout.write(`# nft -f -\n${renderNftTable(ruleSet)}`);
  }
  const routes = renderRoutesApply(ruleSet);
  if (routes.length > 0) {
    process.stdout.write(
      `# ip -4 -batch - and ip -6 -batch -\n${routes.map((line) => `${line.command}\n`).join('')}`,
    );
  }
  return 0;
}

async function agent(socketPath: string, backend: BackendChoice | undefined): Promise<number> {
  const log = createLogger('redirect-agent');
  const captureAgent = new CaptureAgent({
    handler: new PlainCaptureHandler(log.child('capture')),
    backend,
    log,
  });
  const server = await EnrollmentServer.listen(socketPath, captureAgent, log.child('enroll'));
  log.info('serving enrollment', { socket: socketPath, backend: backend ?? 'auto' });
  await stopSignal();
  log.info('stopping (pods stay captured; a new agent resyncs them)');
  await server.close();
  await captureAgent.close();
  return 0;
}

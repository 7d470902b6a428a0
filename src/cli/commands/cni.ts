/**
 * `ambit cni`: the CNI plugin `ambit-cni` (bin/ambit-cni.mjs runs this). A container runtime calls it with
 * `CNI_COMMAND` and the other `CNI_*` variables set and the network config on stdin. `ambit cni install` is
 * the CNI node DaemonSet's process, which puts the plugin on the node.
 */
import { fileURLToPath } from 'node:url';
import { runCni } from '../../cni/main.ts';
import { DEFAULT_ENROLL_SOCKET } from '../../cni/request.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { requiredFlag } from '../flags.ts';
import { packageVersion } from './version.ts';

const USAGE = `Usage: CNI_COMMAND=ADD|DEL|CHECK|VERSION CNI_CONTAINERID=... CNI_NETNS=... CNI_IFNAME=... \\
       CNI_ARGS='K8S_POD_NAMESPACE=..;K8S_POD_NAME=..' ambit cni < config.json
       ambit cni reconcile --node NODE [--enroll-socket PATH] [--kubeconfig FILE]
       ambit cni install --bin-dir DIR --conf-dir DIR --app-dir DIR --host-app-dir DIR --host-conf-dir DIR
                         --enroll-socket PATH

The CNI plugin ambit-cni, chained after the cluster's primary plugin: it has the node agent capture each
ambient pod before the pod starts, and fails the pod's creation when the agent cannot (fail closed).
Config fields: enrollSocket (default /var/run/ambit/enroll.sock), kubeconfig, excludeNamespaces
(default [kube-system]), enrollTimeoutMs (default 15000), backend (auto|nft|iptables..., for CHECK).

reconcile: enrolls the node's ambient pods that are already running (they never passed through ADD: Ambit
was installed on a live cluster, or its agent restarted), each found in its own network namespace through
a process in the pod's cgroup. Pods already captured are left as they are. \`install\` runs it at start
when NODE_NAME is set.

install (in the CNI node DaemonSet's pod): copies Ambit to --app-dir, writes the ambit-cni launcher into
--bin-dir and its kubeconfig into --conf-dir, chains the plugin into the primary conflist there, keeps the
token fresh, and on SIGTERM removes the plugin only if Ambit is being uninstalled. The --host-* paths are
where the host sees --app-dir and --conf-dir. Needs POD_NAMESPACE (and DAEMONSET_NAME, default
ambit-cni-node) in its environment.
`;

const INSTALL_OPTIONS = {
  'bin-dir': { type: 'string' },
  'conf-dir': { type: 'string' },
  'app-dir': { type: 'string' },
  'host-app-dir': { type: 'string' },
  'host-conf-dir': { type: 'string' },
  'enroll-socket': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function install(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: INSTALL_OPTIONS }, USAGE);
  if (printedHelp(values, USAGE)) return 0;
  const flag = (name: keyof typeof INSTALL_OPTIONS) =>
    requiredFlag(values[name] as string | undefined, name, USAGE);
  const paths = {
    binDir: flag('bin-dir'),
    confDir: flag('conf-dir'),
    appDir: flag('app-dir'),
    hostAppDir: flag('host-app-dir'),
    hostConfDir: flag('host-conf-dir'),
    enrollSocket: flag('enroll-socket'),
  };
  const source = { dir: fileURLToPath(new URL('../../..', import.meta.url)), version: packageVersion() };
  const namespace = requiredFlag(process.env.POD_NAMESPACE, 'POD_NAMESPACE (environment)', USAGE);
  // Loaded here only: the plugin itself (run per pod) must not pay for the Kubernetes client.
  const { runNodeAgent } = await import('../../cni/node-agent.ts');
  await runNodeAgent(paths, source, { namespace, daemonSet: process.env.DAEMONSET_NAME ?? 'ambit-cni-node' });
  return 0;
}

const RECONCILE_OPTIONS = {
  node: { type: 'string' },
  'enroll-socket': { type: 'string' },
  kubeconfig: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function reconcile(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: RECONCILE_OPTIONS }, USAGE);
  if (printedHelp(values, USAGE)) return 0;
  const { reconcileRunningPods } = await import('../../cni/node-agent.ts');
  const outcome = await reconcileRunningPods({
    node: requiredFlag(values.node, 'node', USAGE),
    enrollSocket: values['enroll-socket'] ?? DEFAULT_ENROLL_SOCKET,
    kubeconfig: values.kubeconfig,
  });
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
  return outcome.failed.length === 0 ? 0 : 1;
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'install') return install(argv.slice(1));
  if (argv[0] === 'reconcile') return reconcile(argv.slice(1));
  if (argv.length > 0 || process.env.CNI_COMMAND === undefined) {
    process.stderr.write(USAGE);
    return argv.includes('--help') || argv.includes('-h') ? 0 : 2;
  }
  return runCni();
}

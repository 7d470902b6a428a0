/**
 * `ambit cni`: the CNI plugin `ambit-cni` (bin/ambit-cni.mjs runs this). A container runtime calls it with
 * `CNI_COMMAND` and the other `CNI_*` variables set and the network config on stdin; it takes no arguments.
 */
import { runCni } from '../../cni/main.ts';

const USAGE = `Usage: CNI_COMMAND=ADD|DEL|CHECK|VERSION CNI_CONTAINERID=... CNI_NETNS=... CNI_IFNAME=... \\
       CNI_ARGS='K8S_POD_NAMESPACE=..;K8S_POD_NAME=..' ambit cni < config.json

The CNI plugin ambit-cni, chained after the cluster's primary plugin: it has the node agent capture each
ambient pod before the pod starts, and fails the pod's creation when the agent cannot (fail closed).
Config fields: enrollSocket (default /var/run/ambit/enroll.sock), kubeconfig, excludeNamespaces
(default [kube-system]), enrollTimeoutMs (default 15000), backend (auto|nft|iptables..., for CHECK).
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.length > 0 || process.env.CNI_COMMAND === undefined) {
    process.stderr.write(USAGE);
    return argv.includes('--help') || argv.includes('-h') ? 0 : 2;
  }
  return runCni();
}

/**
 * The node agent of the local cluster: one process per node, in the node's namespace, that serves pod
 * enrollment on `<state>/<node>/enroll.sock` (the socket of `src/redirect/enroll`). Today it is
 * `ambit redirect agent` with the plain capture listeners, which only report what they catch; the ztunnel
 * takes its place by serving the same socket with the same protocol: `nodeAgentArgv` (and the component
 * name) is the one thing to change.
 */
import { dirname } from 'node:path';
import type { BackendChoice } from '../../redirect/backend/types.ts';
import { enrollSocketPath } from '../../redirect/enroll/paths.ts';
import type { ExtensionContext } from '../extensions.ts';
import { systemProcess } from '../processes.ts';
import type { ClusterState, NodeRecord, ProcessSpec } from '../types.ts';

/** The component name: processes `node-agent/<node>`, logs by `ambit local logs node-agent`. */
export const NODE_AGENT = 'node-agent';

/** Where the agent of `node` serves enrollment: `<state root>/<cluster>/<node>/enroll.sock`. */
export function nodeAgentSocket(cluster: ClusterState, node: string): string {
  return enrollSocketPath(cluster.name, node, dirname(cluster.stateDir));
}

/** The agent's command line (run with the cluster's bin directory first on PATH, so `ambit` is this checkout). */
export function nodeAgentArgv(socket: string, backend: BackendChoice): string[] {
  return [
    'ambit',
    'redirect',
    'agent',
    '--socket',
    socket,
    ...(backend === 'auto' ? [] : ['--backend', backend]),
  ];
}

/**
 * The supervised process of `node`'s agent: root in the node's namespace, ready once its socket listens.
 * `backend` is fixed at `up` (from $AMBIT_REDIRECT_BACKEND), so restarts keep it.
 */
export function nodeAgentProcess(
  { cluster, paths }: ExtensionContext,
  node: NodeRecord,
  backend: BackendChoice,
): ProcessSpec {
  const socket = nodeAgentSocket(cluster, node.name);
  return systemProcess(paths, {
    id: `${NODE_AGENT}/${node.name}`,
    node,
    argv: nodeAgentArgv(socket, backend),
    readyUnixSockets: [socket],
  });
}

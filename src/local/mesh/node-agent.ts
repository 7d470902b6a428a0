/**
 * The node agent of the local cluster: one process per node, in the node's namespace, that serves pod
 * enrollment on `<state>/<node>/enroll.sock` (the socket of `src/redirect/enroll`). By default it is the
 * node's ztunnel (`ambit ztunnel`: capture rules plus the ztunnel's listeners inside each pod, fed by the
 * cluster's control plane); `AMBIT_NODE_AGENT=plain` at `up` runs `ambit redirect agent` instead, whose
 * plain capture listeners only report what they catch (the enrollment tests use it to see the original
 * destinations). The choice is recorded in the process specs at `up`, so restarts keep it.
 */
import { dirname } from 'node:path';
import { AmbitError } from '../../core/errors.ts';
import type { BackendChoice } from '../../redirect/backend/types.ts';
import { enrollSocketPath } from '../../redirect/enroll/paths.ts';
import { adminSocketPath, ZTUNNEL_NODE_FLAGS } from '../../ztunnel/index.ts';
import type { ExtensionContext } from '../extensions.ts';
import { systemProcess } from '../processes.ts';
import type { ClusterState, NodeRecord, ProcessSpec } from '../types.ts';
import { controlPlaneAddressFor, controlPlaneEndpoint, nodeCredentialFile } from './control-plane.ts';

/** The component name: processes `node-agent/<node>`, logs by `ambit local logs node-agent`. */
export const NODE_AGENT = 'node-agent';

/** Picks the node agent at `up`: `ztunnel` (the default) or `plain`. */
export const NODE_AGENT_ENV = 'AMBIT_NODE_AGENT';

export type NodeAgentKind = 'ztunnel' | 'plain';

export function nodeAgentKind(value = process.env[NODE_AGENT_ENV]): NodeAgentKind {
  if (value === undefined || value === '' || value === 'ztunnel') return 'ztunnel';
  if (value === 'plain') return 'plain';
  throw new AmbitError(
    'USAGE',
    `$${NODE_AGENT_ENV}: expected ztunnel or plain, got ${JSON.stringify(value)}`,
  );
}

/** Where the agent of `node` serves enrollment: `<state root>/<cluster>/<node>/enroll.sock`. */
export function nodeAgentSocket(cluster: ClusterState, node: string): string {
  return enrollSocketPath(cluster.name, node, dirname(cluster.stateDir));
}

/** What the agent's command line depends on. */
export interface NodeAgentSetup {
  kind: NodeAgentKind;
  backend: BackendChoice;
}

/** The agent's command line (run with the cluster's bin directory first on PATH, so `ambit` is this checkout). */
export function nodeAgentArgv(cluster: ClusterState, node: string, setup: NodeAgentSetup): string[] {
  const socket = nodeAgentSocket(cluster, node);
  const backend = setup.backend === 'auto' ? [] : ['--backend', setup.backend];
  if (setup.kind === 'plain') return ['ambit', 'redirect', 'agent', '--socket', socket, ...backend];
  const control = controlPlaneEndpoint(cluster);
  return [
    'ambit',
    'ztunnel',
    '--node',
    node,
    '--control',
    controlPlaneAddressFor(cluster, node),
    '--token-file',
    nodeCredentialFile(cluster, node),
    '--ca-root',
    control.rootCertFile,
    '--enroll-socket',
    socket,
    '--admin-socket',
    adminSocketPath(cluster.stateDir, node),
    // What the mesh does not answer goes to the cluster DNS, as Istio's ztunnel forwards to kube-dns.
    '--dns-upstream',
    cluster.addresses.dnsVIP,
    ...backend,
    // The HBONE implementation as chosen at `up` (the benchmarks compare the framer with node:http2).
    ...(process.env.AMBIT_HBONE_IMPL ? ['--hbone-impl', process.env.AMBIT_HBONE_IMPL] : []),
  ];
}

/**
 * The supervised process of `node`'s agent: root in the node's namespace, ready once its socket listens
 * (the ztunnel opens it once it has its first configuration).
 */
export function nodeAgentProcess(
  { cluster, paths }: ExtensionContext,
  node: NodeRecord,
  setup: NodeAgentSetup,
): ProcessSpec {
  return systemProcess(paths, {
    id: `${NODE_AGENT}/${node.name}`,
    node,
    argv: nodeAgentArgv(cluster, node.name, setup),
    // The ztunnel's tuned Node flags (they are allowed in NODE_OPTIONS; the agent starts no Node child).
    env: setup.kind === 'ztunnel' ? { NODE_OPTIONS: ZTUNNEL_NODE_FLAGS.join(' ') } : {},
    readyUnixSockets: [nodeAgentSocket(cluster, node.name)],
  });
}

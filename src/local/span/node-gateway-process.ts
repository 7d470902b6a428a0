/**
 * The node gateway as the cluster runs it (a system process beside the control plane, on the control plane
 * host of a cluster across hosts), and the client through which a joining host's supervisor reaches it.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ControlApiClient } from '../../core/control-api/client.ts';
import { readNodeToken } from '../../core/node-credentials.ts';
import { Netns, startTcpConnect } from '../../core/sys/netns-socket.ts';
import { nodeCredentialFile } from '../mesh/control-plane.ts';
import { systemProcess } from '../processes.ts';
import type { StatePaths } from '../state.ts';
import type { ClusterState, NodeRecord, ProcessSpec } from '../types.ts';
import { gatewayCredentialFiles } from './gateway-credential.ts';
import { NODE_GATEWAY_IDENTITY, NODE_GATEWAY_PORT, nodeGatewayAddress } from './span.ts';

export const NODE_GATEWAY = 'node-gateway';

/** Root in the first node's namespace (it reads the CA key and the node tokens), ready once it listens. */
export function nodeGatewayProcess(cluster: ClusterState, paths: StatePaths): ProcessSpec {
  return systemProcess(paths, {
    id: NODE_GATEWAY,
    // The plan refuses a cluster without nodes.
    node: cluster.nodes[0]!,
    argv: [
      'ambit',
      'local',
      'node-gateway',
      '--state-dir',
      cluster.stateDir,
      '--listen',
      nodeGatewayAddress(cluster),
    ],
    readyPorts: [NODE_GATEWAY_PORT],
  });
}

/** Opens TCP connections to `host:port` from inside `node`'s namespace. */
export function connectFromNode(
  node: Pick<NodeRecord, 'netnsPath'>,
  host: string,
  port: number,
): () => Socket {
  return () => {
    const netns = Netns.open(node.netnsPath);
    try {
      return startTcpConnect(netns, { address: host, port });
    } finally {
      netns.close();
    }
  };
}

/** The control plane's API as `node` of a joining host reaches it: the node gateway, with the node's token. */
export function nodeGatewayClient(
  cluster: ClusterState,
  node: NodeRecord,
  timeoutMs: number,
): ControlApiClient {
  const [host, port] = nodeGatewayAddress(cluster).split(':');
  return new ControlApiClient(
    {
      host: host!,
      port: Number(port),
      // From the node's namespace: the supervisor's own (the host's root) has no route to the underlay.
      connect: connectFromNode(node, host!, Number(port)),
      caPem: readFileSync(gatewayCredentialFiles(cluster).certFile, 'utf8'),
      serverIdentity: NODE_GATEWAY_IDENTITY,
      token: readNodeToken(nodeCredentialFile(cluster, node.name)),
    },
    { timeoutMs },
  );
}

/**
 * How a test's data-plane client reaches an in-process control plane as the ztunnel of `node`: the plane's
 * gRPC address and root, and a node credential created in its state directory now.
 */
import { readFileSync } from 'node:fs';
import type { ControlPlane } from '../../src/control/control-plane.ts';
import { type DiscoveryClient, ztunnelDiscovery } from '../../src/core/discovery/client.ts';
import type { ControlPlaneConnection } from '../../src/core/grpc/credentials.ts';
import type { NodeSnapshot } from '../../src/core/model/index.ts';
import { createNodeCredential } from '../../src/core/node-credentials.ts';
import type { StateStore } from '../../src/ztunnel/state/store.ts';
import { eventually } from './eventually.ts';

export function nodeConnection(plane: ControlPlane, stateDir: string, node: string): ControlPlaneConnection {
  return {
    address: plane.grpcAddress,
    rootCertPem: readFileSync(plane.paths.rootCert, 'utf8'),
    token: createNodeCredential(stateDir, node).token,
  };
}

/** A started ztunnel discovery client of `node` (into `store`, if given), once the plane has it in sync. */
export async function syncedZtunnel(
  plane: ControlPlane,
  stateDir: string,
  node: string,
  store?: StateStore,
): Promise<DiscoveryClient<NodeSnapshot>> {
  const client = ztunnelDiscovery({ connection: nodeConnection(plane, stateDir, node), node, store });
  client.start();
  await eventually(() => plane.status().clients.some((status) => status.node === node && status.inSync), {
    what: `${node} in sync`,
  });
  return client;
}

/**
 * How a test's data-plane client reaches an in-process control plane as the ztunnel of `node`: the plane's
 * gRPC address and root, and a node credential created in its state directory now.
 */
import { readFileSync } from 'node:fs';
import type { ControlPlane } from '../../src/control/control-plane.ts';
import type { ControlPlaneConnection } from '../../src/core/grpc/credentials.ts';
import { createNodeCredential } from '../../src/core/node-credentials.ts';

export function nodeConnection(plane: ControlPlane, stateDir: string, node: string): ControlPlaneConnection {
  return {
    address: plane.grpcAddress,
    rootCertPem: readFileSync(plane.paths.rootCert, 'utf8'),
    token: createNodeCredential(stateDir, node).token,
  };
}

/**
 * The public part of a control plane's state directory: what other processes on the machine are given
 * (the API socket, the root certificate to trust, the node credentials). The local cluster creates node
 * credentials here before starting ztunnels; data-plane clients trust `rootCert`.
 */
import { join } from 'node:path';

export interface ControlPaths {
  root: string;
  /** The API socket (mode 0600). */
  socket: string;
  /** The mesh root certificate (PEM, public): data-plane clients trust the control plane's server cert with it. */
  rootCert: string;
  /** One `<node>.token` file (mode 0600) per node. */
  nodeTokens: string;
}

export function controlPaths(stateDir: string): ControlPaths {
  return {
    root: stateDir,
    socket: join(stateDir, 'control.sock'),
    rootCert: join(stateDir, 'ca', 'root-cert.pem'),
    nodeTokens: join(stateDir, 'nodes'),
  };
}

export function nodeTokenFile(stateDir: string, node: string): string {
  return join(controlPaths(stateDir).nodeTokens, `${node}.token`);
}

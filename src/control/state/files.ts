/** The control plane's state directory: its layout (files are written with `src/core/files.ts`). */
import { join } from 'node:path';
import { type ControlPaths, controlPaths } from '../../core/control-api/paths.ts';

/** The public paths (`controlPaths`) plus the control plane's private files. */
export interface StatePaths extends ControlPaths {
  /** Applied config (raw documents with their origin). */
  config: string;
  /** Pods reported by runtimes. */
  pods: string;
  /** Root CA key (mode 0600); its certificate is the public `rootCert`. */
  caKey: string;
  /** The lock that serializes the writers of this directory among replicas (see `lock.ts`). */
  lock: string;
}

export function statePaths(root: string): StatePaths {
  return {
    ...controlPaths(root),
    config: join(root, 'config.json'),
    pods: join(root, 'pods.json'),
    caKey: join(root, 'ca', 'root-key.pem'),
    lock: join(root, 'state.lock'),
  };
}

/** Where a node's agent listens for enrollment (architecture: state of a local cluster lives under /run/ambit). */
import { join } from 'node:path';

export const AMBIT_RUN_DIR = '/run/ambit';

export function enrollSocketPath(cluster: string, node: string, runDir = AMBIT_RUN_DIR): string {
  return join(runDir, cluster, node, 'enroll.sock');
}

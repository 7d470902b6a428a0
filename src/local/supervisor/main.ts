/**
 * Entry of the supervisor process (`ambit local supervise --state-dir <dir>`, started detached by `up`):
 * loads the cluster, its process list and its extensions, runs the Supervisor until SIGTERM, then stops
 * every process it runs.
 */
import { configureLogging, createLogger } from '../../core/log.ts';
import { type ClusterExtension, type ExtensionContext, loadExtensions } from '../extensions.ts';
import { readClusterState, readJson, statePaths } from '../state.ts';
import type { ProcessSpec } from '../types.ts';
import { Supervisor } from './supervisor.ts';

export async function runSupervisor(stateDir: string): Promise<number> {
  configureLogging({ format: 'json' });
  const log = createLogger('local.supervisor');
  const paths = statePaths(stateDir);
  const cluster = readClusterState(paths);
  const specs = readJson<ProcessSpec[]>(paths.processes);
  if (!cluster || !specs) {
    log.error('no cluster recorded here', { stateDir });
    return 1;
  }
  const context: ExtensionContext = { cluster, paths };
  const pods = new Map(cluster.pods.map((pod) => [pod.uid, pod]));
  // If the extensions cannot be loaded, no pod can pass its gate: pods stay Pending (fail closed).
  const extensions: Promise<ClusterExtension[]> = loadExtensions(cluster.extensions);
  extensions.catch((error) => log.error('cannot load cluster extensions', { error }));
  const gate = async (spec: ProcessSpec) => {
    const pod = pods.get(spec.podUid ?? '');
    if (!pod) throw new Error(`pod ${spec.podUid} is not in the cluster record`);
    for (const extension of await extensions) await extension.beforePodStart?.(pod, context);
  };
  const supervisor = new Supervisor(specs, { statusFile: paths.status, log, gate });
  process.on('uncaughtException', (error) => log.error('unexpected error', { error, stack: error.stack }));
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      log.info('stopping');
      void supervisor.stop().then(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  process.on('SIGHUP', () => {});
  log.info('supervising', { cluster: cluster.name, processes: specs.length });
  supervisor.start();
  await stopped;
  log.info('stopped');
  return 0;
}

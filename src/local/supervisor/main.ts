/**
 * Entry of the supervisor process (`ambit local supervise --state-dir <dir>`, started detached by `up`):
 * loads the cluster, its process list and its extensions, runs the Supervisor and serves the control
 * channel until SIGTERM, then stops every process it runs and lets the extensions go.
 */
import { join } from 'node:path';
import { errorMessage } from '../../core/errors.ts';
import { readJsonFile, writeJsonAtomic } from '../../core/files.ts';
import { configureLogging, createLogger, type Logger } from '../../core/log.ts';
import { type ClusterExtension, type ExtensionContext, loadExtensions } from '../extensions.ts';
import { relabel } from '../labels.ts';
import { readClusterState, statePaths } from '../state.ts';
import type { ProcessSpec } from '../types.ts';
import { ControlServer, type LabelOutcome, type LabelRequest } from './control.ts';
import { SupervisedPods } from './pods.ts';
import type { ProcessStatus } from './status.ts';
import { Supervisor } from './supervisor.ts';

export async function runSupervisor(stateDir: string): Promise<number> {
  configureLogging({ format: 'json' });
  const log = createLogger('local.supervisor');
  const paths = statePaths(stateDir);
  const cluster = readClusterState(paths);
  const specs = readJsonFile<ProcessSpec[]>(paths.processes);
  if (!cluster || !specs) {
    log.error('no cluster recorded here', { stateDir });
    return 1;
  }
  const context: ExtensionContext = { cluster, paths };
  // If the extensions cannot be loaded, no pod can pass its gate: pods stay Pending (fail closed).
  const extensions: Promise<ClusterExtension[]> = loadExtensions(cluster.extensions);
  extensions.catch((error) => log.error('cannot load cluster extensions', { error }));
  const gate = async (spec: ProcessSpec) => {
    // The latest record: labels may have changed since the supervisor started.
    const pod = context.cluster.pods.find((candidate) => candidate.uid === spec.podUid);
    if (!pod) throw new Error(`pod ${spec.podUid} is not in the cluster record`);
    for (const extension of await extensions) await extension.beforePodStart?.(pod, context);
  };
  // Extensions hear of transitions in the order they happened: each call is chained after the previous one.
  let told = Promise.resolve();
  const onTransition = (status: ProcessStatus) => {
    told = told.then(async () => {
      for (const extension of await extensions.catch(() => [])) {
        await extension
          .processChanged?.(status, context)
          .catch((error) => log.warn('extension failed on a process change', { id: status.id, error }));
      }
    });
  };
  const supervisor = new Supervisor(specs, {
    statusFile: paths.status,
    log,
    gate,
    onTransition,
    probeSocketDir: join(paths.dir, 'probes'),
  });
  context.reportMesh = (podUid, mesh) => supervisor.setPodMesh(podUid, mesh);
  context.pods = new SupervisedPods(context, supervisor, extensions, log.child('pods'));
  process.on('uncaughtException', (error) => log.error('unexpected error', { error, stack: error.stack }));
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      log.info('stopping');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  process.on('SIGHUP', () => {});
  log.info('supervising', { cluster: cluster.name, processes: specs.length });
  supervisor.start();
  const control = await ControlServer.listen(
    paths.control,
    (request) => applyLabels(request, context, extensions, supervisor, paths.cluster, log),
    log.child('control'),
  ).catch((error: unknown) => {
    // The cluster still runs; only `ambit local label` is unavailable.
    log.error('cannot serve the control socket', { path: paths.control, error });
    return undefined;
  });
  await stopped;
  await control?.close();
  await supervisor.stop();
  for (const extension of await extensions.catch(() => [])) {
    await extension.stop?.(context).catch((error) => log.warn('extension stop failed', { error }));
  }
  log.info('stopped');
  return 0;
}

/**
 * Applies a label change: the record first (in memory, then `cluster.json`), then every extension is told
 * about each pod concerned; the outcome says where each pod now stands, and why if it is not where its
 * labels say it should be.
 */
async function applyLabels(
  request: LabelRequest,
  context: ExtensionContext,
  extensions: Promise<ClusterExtension[]>,
  supervisor: Supervisor,
  clusterFile: string,
  log: Logger,
): Promise<LabelOutcome> {
  const result = relabel(context.cluster, request.target, request.edit, request.overwrite);
  if (result.change !== 'not labeled') {
    writeJsonAtomic(clusterFile, result.cluster);
    context.cluster = result.cluster;
    log.info('labels changed', { object: result.object, labels: result.labels });
  }
  const loaded = await extensions;
  let error: string | undefined;
  const namespace = result.cluster.namespaces.find(
    (candidate) => request.target.kind === 'namespace' && candidate.name === request.target.name,
  );
  if (namespace) {
    for (const extension of loaded) {
      await extension.namespaceRelabeled?.(namespace, context).catch((failure: unknown) => {
        error ??= errorMessage(failure);
      });
    }
  }
  const pods = await Promise.all(
    result.pods.map(async (pod) => {
      let error: string | undefined;
      for (const extension of loaded) {
        await extension.podRelabeled?.(pod, context).catch((failure: unknown) => {
          error ??= errorMessage(failure);
        });
      }
      return { uid: pod.uid, mesh: supervisor.podMesh(pod.uid), error };
    }),
  );
  return { object: result.object, change: result.change, missing: result.missing, error, pods };
}

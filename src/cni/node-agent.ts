/**
 * The CNI node DaemonSet's process: installs the plugin, keeps its token fresh, and on SIGTERM decides
 * whether to take the plugin out again. It does only when Ambit is being uninstalled (its DaemonSet is gone
 * or being deleted, or its RBAC already is): on a restart or a rolling update the plugin stays chained, so
 * a pod created meanwhile fails ADD (no agent) rather than starting uncaptured (fail closed). At start, with
 * NODE_NAME set, it enrolls the node's ambient pods that are already running (reconcile.ts), again with
 * backoff while some fail: on a fresh install the ztunnel (or its config) is usually not there yet.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, AppsV1Api } from '@kubernetes/client-node';
import { type BackoffPolicy, backoffDelay } from '../core/backoff.ts';
import { errorMessage } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { loadKubeConfig } from '../kube/client.ts';
import {
  type InstallPaths,
  inClusterCredentials,
  installPlugin,
  uninstallPlugin,
  writeToken,
} from './install.ts';
import { type ReconcileOutcome, reconcileNodePods } from './reconcile.ts';
import { DEFAULT_EXCLUDED_NAMESPACES } from './request.ts';

const log = createLogger('cni-node');
const TOKEN_REFRESH_MS = 60_000;
const RECONCILE_RETRY: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000 };

/** Whether the DaemonSet this pod belongs to is being removed (uninstall), as far as the API says. */
export async function beingUninstalled(namespace: string, name: string): Promise<boolean> {
  try {
    const daemonSet = await loadKubeConfig()
      .makeApiClient(AppsV1Api)
      .readNamespacedDaemonSet({ name, namespace });
    return daemonSet.metadata?.deletionTimestamp !== undefined;
  } catch (error) {
    // 404: deleted; 401/403: our account or RBAC is gone, which only an uninstall does. Anything else (the
    // API unreachable) is no proof: keep the plugin.
    return error instanceof ApiException && [401, 403, 404].includes(error.code);
  }
}

/** Enrolls the node's running ambient pods (`ambit cni reconcile`, and `install` at start). */
export async function reconcileRunningPods(options: {
  node: string;
  enrollSocket: string;
  kubeconfig?: string | undefined;
}): Promise<ReconcileOutcome> {
  const outcome = await reconcileNodePods(loadKubeConfig(options.kubeconfig), {
    ...options,
    excludeNamespaces: DEFAULT_EXCLUDED_NAMESPACES,
    log,
  });
  log.info('running pods reconciled', {
    enrolled: outcome.enrolled.length,
    skipped: outcome.skipped.length,
    failed: outcome.failed.length,
  });
  return outcome;
}

/**
 * Runs `reconcile` until no pod fails (a skipped pod is not retried: its ADD enrolls it), with backoff
 * between tries, or until `stop`. Already captured pods are only acknowledged again, so a retry costs a
 * list and an ACK per pod.
 */
export async function reconcileUntilNoneFail(
  reconcile: () => Promise<ReconcileOutcome>,
  stop: AbortSignal,
  policy: BackoffPolicy = RECONCILE_RETRY,
): Promise<void> {
  for (let attempt = 0; !stop.aborted; attempt++) {
    const failed = await reconcile().then(
      (outcome) => outcome.failed.length > 0,
      (error: unknown) => {
        log.warn('cannot reconcile running pods', { error: errorMessage(error) });
        return true;
      },
    );
    if (!failed) return;
    await sleep(backoffDelay(attempt, policy), undefined, { signal: stop }).catch(() => {});
  }
}

export async function runNodeAgent(
  paths: InstallPaths,
  source: { dir: string; version: string },
  self: { namespace: string; daemonSet: string },
): Promise<void> {
  const conflist = installPlugin(paths, source, inClusterCredentials());
  log.info('ambit-cni installed', { conflist, version: source.version });
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
  const node = process.env.NODE_NAME;
  if (node) {
    const reconcile = () => reconcileRunningPods({ node, enrollSocket: paths.enrollSocket });
    void reconcileUntilNoneFail(reconcile, stop.signal);
  }
  while (!stop.signal.aborted) {
    await sleep(TOKEN_REFRESH_MS, undefined, { signal: stop.signal }).catch(() => {});
    if (stop.signal.aborted) break;
    try {
      writeToken(paths, inClusterCredentials().token);
    } catch (error) {
      log.warn('cannot refresh the plugin token', { error: errorMessage(error) });
    }
  }
  if (await beingUninstalled(self.namespace, self.daemonSet)) {
    uninstallPlugin(paths);
    log.info('ambit-cni removed from the node (Ambit is being uninstalled)');
  } else {
    log.info('stopping; ambit-cni stays chained until the next start (restart or update)');
  }
}

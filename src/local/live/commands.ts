/**
 * `ambit local scale` and `ambit local rollout restart|status` for a Deployment of a running cluster, as
 * kubectl does them: scale and restart change the Deployment stored in the control plane (its replicas; a
 * `kubectl.kubernetes.io/restartedAt` annotation on its template, which gives it a new template hash) and
 * the cluster follows (see extension.ts); status watches the cluster's pods until the rollout is complete.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { isPlainObject } from '../../core/config/field.ts';
import { DEPLOYMENT_KIND, type DeploymentSpec } from '../../core/config/kinds/core.ts';
import { parseResources, type Resource } from '../../core/config/resource.ts';
import { ControlApiClient } from '../../core/control-api/client.ts';
import type { StoredResource } from '../../core/control-api/types.ts';
import { AmbitError, UsageError } from '../../core/errors.ts';
import { LOCAL_KINDS } from '../cluster-file.ts';
import { controlPlaneEndpoint } from '../mesh/control-plane.ts';
import { podTemplateHash } from '../pod-names.ts';
import { readClusterState, type StatePaths } from '../state.ts';
import { readSupervisorStatus } from '../supervisor/status.ts';
import type { ClusterState } from '../types.ts';
import { deploymentPods } from './desired.ts';
import { rolloutComplete } from './rollout.ts';

/** The annotation `kubectl rollout restart` sets on the pod template. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
const STATUS_POLL_MS = 200;

/** `deployment/<name>` (also `deploy/`, `deployments/`, `deployment.apps/`) -> the name. */
export function parseDeploymentRef(text: string | undefined): string {
  const match = /^(?:deployment|deployments|deploy|deployment\.apps)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(
    text ?? '',
  );
  if (!match) throw new UsageError(`expected deployment/<name>, got ${JSON.stringify(text ?? '')}`);
  return match[1]!;
}

/** The replica count of `--replicas`: a whole number from 0 to 1000 (the Deployment kind's bounds). */
export function parseReplicas(text: string | undefined): number {
  const replicas = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || replicas > 1000)
    throw new UsageError(`--replicas takes a whole number from 0 to 1000, got ${JSON.stringify(text ?? '')}`);
  return replicas;
}

/** A Deployment document with `spec.replicas` set. */
export function withReplicas(document: Record<string, unknown>, replicas: number): Record<string, unknown> {
  const spec = isPlainObject(document.spec) ? document.spec : {};
  return { ...document, spec: { ...spec, replicas } };
}

/** A Deployment document whose template carries the restart annotation with `at`. */
export function withRestartedAt(document: Record<string, unknown>, at: string): Record<string, unknown> {
  const spec = isPlainObject(document.spec) ? document.spec : {};
  const template = isPlainObject(spec.template) ? spec.template : {};
  const metadata = isPlainObject(template.metadata) ? template.metadata : {};
  const annotations = isPlainObject(metadata.annotations) ? metadata.annotations : {};
  return {
    ...document,
    spec: {
      ...spec,
      template: {
        ...template,
        metadata: { ...metadata, annotations: { ...annotations, [RESTARTED_AT_ANNOTATION]: at } },
      },
    },
  };
}

function api(cluster: ClusterState): ControlApiClient {
  return new ControlApiClient(controlPlaneEndpoint(cluster).sockets);
}

async function storedDeployment(
  client: ControlApiClient,
  name: string,
  namespace: string,
): Promise<StoredResource & { document: Record<string, unknown> }> {
  const [found] = await client.get({ kind: 'Deployment', name, namespace });
  if (!found || !isPlainObject(found.document))
    throw new AmbitError('NOT_FOUND', `deployment ${namespace}/${name} not found`);
  return found as StoredResource & { document: Record<string, unknown> };
}

/** Stores the changed Deployment; the cluster rolls it out. */
async function update(
  cluster: ClusterState,
  name: string,
  namespace: string,
  why: string,
  change: (document: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const client = api(cluster);
  const found = await storedDeployment(client, name, namespace);
  await client.apply([
    { name: `deployment ${namespace}/${name} (${why})`, content: stringify(change(found.document)) },
  ]);
}

export function scaleDeployment(cluster: ClusterState, name: string, namespace: string, replicas: number) {
  return update(cluster, name, namespace, 'ambit local scale', (document) =>
    withReplicas(document, replicas),
  );
}

export function restartDeployment(cluster: ClusterState, name: string, namespace: string, now = new Date()) {
  return update(cluster, name, namespace, 'ambit local rollout restart', (document) =>
    withRestartedAt(document, now.toISOString()),
  );
}

export interface RolloutProgress {
  replicas: number;
  /** Pods of the current template. */
  updated: number;
  /** Pods of the current template that are ready. */
  available: number;
  /** Pods of older templates still there. */
  old: number;
  complete: boolean;
}

/** Where a Deployment's rollout stands in the cluster now. */
export function rolloutProgress(
  cluster: ClusterState,
  paths: StatePaths,
  deployment: Resource<DeploymentSpec>,
): RolloutProgress {
  const ready = new Set(
    (readSupervisorStatus(paths)?.processes ?? [])
      .filter((process) => process.state === 'running' && process.ready)
      .flatMap((process) => (process.podUid ? [process.podUid] : [])),
  );
  const target = {
    namespace: deployment.metadata.namespace!,
    name: deployment.metadata.name,
    hash: podTemplateHash(deployment.spec.template),
  };
  const { current, old } = deploymentPods(cluster.pods, target, new Set(), (uid) => ready.has(uid));
  const replicas = deployment.spec.replicas;
  return {
    replicas,
    updated: current.length,
    available: current.filter((pod) => pod.ready).length,
    old: old.length,
    complete: rolloutComplete({ replicas, current, old }),
  };
}

/** kubectl's line for a rollout in progress. */
export function describeProgress(name: string, progress: RolloutProgress): string {
  if (progress.complete) return `deployment "${name}" successfully rolled out`;
  if (progress.updated < progress.replicas)
    return `Waiting for deployment "${name}" rollout to finish: ${progress.updated} out of ${progress.replicas} new replicas have been updated...`;
  if (progress.old > 0)
    return `Waiting for deployment "${name}" rollout to finish: ${progress.old} old replicas are pending termination...`;
  return `Waiting for deployment "${name}" rollout to finish: ${progress.available} of ${progress.replicas} updated replicas are available...`;
}

/** Prints each new progress line until the rollout is complete; false if `timeoutMs` passed first. */
export async function watchRollout(
  cluster: ClusterState,
  paths: StatePaths,
  name: string,
  namespace: string,
  timeoutMs: number,
  write: (line: string) => void,
): Promise<boolean> {
  const client = api(cluster);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const found = await storedDeployment(client, name, namespace);
    const [deployment] = parseResources([{ value: found.document, source: found.source }], LOCAL_KINDS)
      .resources as Resource<DeploymentSpec>[];
    if (!deployment || deployment.kind !== DEPLOYMENT_KIND.kind)
      throw new AmbitError('STATE_CORRUPT', `the stored deployment ${namespace}/${name} does not parse`);
    const progress = rolloutProgress(readClusterState(paths) ?? cluster, paths, deployment);
    const line = describeProgress(name, progress);
    if (line !== last) write(line);
    last = line;
    if (progress.complete) return true;
    if (Date.now() > deadline) return false;
    await sleep(STATUS_POLL_MS);
  }
}

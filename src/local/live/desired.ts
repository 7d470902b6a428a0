/**
 * What a running local cluster should hold, from the control plane's stored core objects (the cluster
 * file's, watched by the control plane, and whatever `ambit apply` added): planned exactly as `up` plans a
 * cluster file, against a Cluster document rebuilt from the record, with the ClusterIPs and node ports
 * already allocated pinned, so that a Service keeps its addresses and a new one gets the lowest free ones.
 * Then what to change, as a pure diff against the record: namespaces to add, the Services, bare pods to add
 * or remove, and each Deployment's next rollout step. Nothing here touches the system.
 */

import type { RawDocument } from '../../core/config/documents.ts';
import { isPlainObject } from '../../core/config/field.ts';
import type { ConfigIssue, ResourceRef, SourceRef } from '../../core/config/issues.ts';
import {
  DEPLOYMENT_KIND,
  type DeploymentSpec,
  POD_KIND,
  type PodSpec,
} from '../../core/config/kinds/core.ts';
import { ofKind, parseResources, type Resource } from '../../core/config/resource.ts';
import { parseCidr } from '../addresses.ts';
import { LOCAL_KINDS } from '../cluster-file.ts';
import { CLUSTER_KIND, type ClusterSpec } from '../cluster-kind.ts';
import { PROMETHEUS_EXTENSION_URL } from '../extensions.ts';
import { type PlanResult, planCluster } from '../plan.ts';
import { podTemplateHash } from '../pod-names.ts';
import type { ClusterState, NamespaceRecord, PodRecord, ServiceRecord } from '../types.ts';
import {
  DEFAULT_ROLLOUT_STRATEGY,
  type IntOrPercent,
  planRolloutStep,
  type RolloutPod,
  type RolloutStrategy,
} from './rollout.ts';

/** The core kinds a running cluster follows (the mesh kinds are the control plane's own business). */
export const LIVE_KINDS = [
  'Namespace',
  'ServiceAccount',
  'ConfigMap',
  'Secret',
  'Service',
  'Pod',
  'Deployment',
] as const;

export const TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** A document as the control plane stores it. */
export interface StoredDocument {
  document: unknown;
  source: SourceRef;
}

export interface LivePlan {
  plan: PlanResult;
  deployments: DeploymentTarget[];
  /** Pods whose spec names their node (`nodeName`), by uid; the others go to the least loaded node. */
  pinned: Map<string, string>;
  issues: ConfigIssue[];
}

/** A Deployment as the rollout sees it. */
export interface DeploymentTarget {
  namespace: string;
  name: string;
  replicas: number;
  /** `pod-template-hash` of the current template. */
  hash: string;
  strategy: RolloutStrategy;
}

/** The Cluster document the record was made from, so the plan sees the same nodes and ranges. */
function clusterResource(cluster: ClusterState): Resource<ClusterSpec> {
  const cidr = (text: string) => {
    const parsed = parseCidr(text);
    if ('error' in parsed) throw new Error(`cluster record: ${parsed.error}`);
    return parsed.cidr;
  };
  return {
    apiVersion: CLUSTER_KIND.apiVersions[0]!,
    kind: CLUSTER_KIND.kind,
    metadata: { name: cluster.name, namespace: undefined, labels: {}, annotations: {} },
    spec: {
      nodes: cluster.nodes.map((node) => ({ name: node.name })),
      podCIDR: cidr(cluster.addresses.podCIDR),
      serviceCIDR: cidr(cluster.addresses.serviceCIDR),
      underlayCIDR: cidr(cluster.addresses.underlayCIDR),
      prometheus: cluster.extensions.includes(PROMETHEUS_EXTENSION_URL),
      portMappings: cluster.portMappings ?? [],
      controlPlane: { replicas: cluster.controlPlane?.replicas ?? 1 },
    },
    source: { file: `cluster ${cluster.name}`, document: 0 },
  };
}

/**
 * The Service document with the addresses the record holds for it filled in where the document gives
 * none: its ClusterIP, and each NodePort/LoadBalancer port's node port (matched by port and protocol).
 */
export function pinServiceAddresses(document: unknown, recorded: ServiceRecord | undefined): unknown {
  if (!recorded || !isPlainObject(document) || !isPlainObject(document.spec)) return document;
  const spec = { ...document.spec };
  if (spec.clusterIP === undefined && recorded.clusterIP !== undefined) spec.clusterIP = recorded.clusterIP;
  const nodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  if (nodePorts && Array.isArray(spec.ports)) {
    spec.ports = spec.ports.map((port: unknown) => {
      if (!isPlainObject(port) || port.nodePort !== undefined) return port;
      const protocol = port.protocol ?? 'TCP';
      const match = recorded.ports.find((old) => old.port === port.port && old.protocol === protocol);
      return match?.nodePort === undefined ? port : { ...port, nodePort: match.nodePort };
    });
  }
  return { ...document, spec };
}

function objectKey(namespace: unknown, name: unknown): string {
  return `${typeof namespace === 'string' ? namespace : 'default'}/${String(name)}`;
}

/** The rolling-update budgets a Deployment document asks for (Recreate: everything goes, then comes). */
export function deploymentStrategy(document: unknown): RolloutStrategy {
  const strategy = (document as { spec?: { strategy?: unknown } } | undefined)?.spec?.strategy;
  if (!isPlainObject(strategy)) return DEFAULT_ROLLOUT_STRATEGY;
  if (strategy.type === 'Recreate') return { maxSurge: 0, maxUnavailable: '100%' };
  const rolling = isPlainObject(strategy.rollingUpdate) ? strategy.rollingUpdate : {};
  const value = (given: unknown, fallback: IntOrPercent): IntOrPercent =>
    typeof given === 'number' || typeof given === 'string' ? given : fallback;
  return {
    maxSurge: value(rolling.maxSurge, DEFAULT_ROLLOUT_STRATEGY.maxSurge),
    maxUnavailable: value(rolling.maxUnavailable, DEFAULT_ROLLOUT_STRATEGY.maxUnavailable),
  };
}

function sameDocument(issue: ConfigIssue, resource: Resource): boolean {
  return issue.source.file === resource.source.file && issue.source.document === resource.source.document;
}

/**
 * Plans the resources against the running cluster, leaving out each one the plan refuses (a pod in a
 * namespace that is not stored, a ClusterIP another Service holds) and planning the rest again: one bad
 * object must not hold back every other live change. What refers to a left-out object is planned again
 * against its absence, so it is refused in turn rather than run without it. Errors that name no resource
 * of ours (the cluster as a whole) leave no plan.
 */
function planLeavingOut(
  cluster: ClusterState,
  planned: readonly Resource[],
  failed: readonly ResourceRef[],
): { plan: PlanResult; resources: readonly Resource[]; refused: ConfigIssue[] } {
  const refused: ConfigIssue[] = [];
  let resources = planned;
  for (;;) {
    const plan = planCluster([clusterResource(cluster), ...resources], {
      name: cluster.name,
      stateDirFor: () => cluster.stateDir,
      extensions: cluster.extensions,
      failed,
    });
    const errors = plan.issues.filter((issue) => issue.severity === 'error');
    const left = resources.filter((resource) => !errors.some((issue) => sameDocument(issue, resource)));
    const allNamed = errors.every((issue) => resources.some((resource) => sameDocument(issue, resource)));
    if (errors.length === 0 || !allNamed) return { plan, resources, refused };
    refused.push(...errors);
    resources = left;
  }
}

/**
 * Plans the stored objects against the running cluster. An object it cannot run is left out with its
 * errors in `issues` and the rest planned; `plan.state` is missing only if nothing can be followed.
 */
export function planLive(cluster: ClusterState, stored: readonly StoredDocument[]): LivePlan {
  const services = new Map(
    cluster.services.map((service) => [`${service.namespace}/${service.name}`, service]),
  );
  const documents: RawDocument[] = stored.map(({ document, source }) => {
    const value = document as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    if (value?.kind !== 'Service') return { value: document, source };
    const key = objectKey(value.metadata?.namespace, value.metadata?.name);
    return { value: pinServiceAddresses(document, services.get(key)), source };
  });
  const parsed = parseResources(documents, LOCAL_KINDS);
  const failed = parsed.issues.flatMap((issue) =>
    issue.severity === 'error' && issue.resource ? [issue.resource] : [],
  );
  const { plan, resources, refused } = planLeavingOut(cluster, parsed.resources, failed);
  const strategies = new Map(
    stored.map(({ document }) => {
      const value = document as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
      return [`${value?.kind}:${objectKey(value?.metadata?.namespace, value?.metadata?.name)}`, document];
    }),
  );
  const deployments = ofKind(resources, DEPLOYMENT_KIND).map(
    (deployment: Resource<DeploymentSpec>): DeploymentTarget => ({
      namespace: deployment.metadata.namespace!,
      name: deployment.metadata.name,
      replicas: deployment.spec.replicas,
      hash: podTemplateHash(deployment.spec.template),
      strategy: deploymentStrategy(
        strategies.get(`Deployment:${deployment.metadata.namespace}/${deployment.metadata.name}`),
      ),
    }),
  );
  const pinnedNodes = new Map<string, string>();
  for (const resource of resources) {
    const key = `${resource.metadata.namespace}/${resource.metadata.name}`;
    if (resource.kind === POD_KIND.kind) {
      const node = (resource as Resource<PodSpec>).spec.nodeName;
      if (node !== undefined) pinnedNodes.set(key, node);
    } else if (resource.kind === DEPLOYMENT_KIND.kind) {
      const node = (resource as Resource<DeploymentSpec>).spec.template.spec.nodeName;
      for (const pod of plan.state?.pods ?? []) {
        if (
          node !== undefined &&
          pod.owner?.kind === 'Deployment' &&
          `${pod.namespace}/${pod.owner.name}` === key
        )
          pinnedNodes.set(pod.uid, node);
      }
    }
  }
  return {
    plan,
    deployments,
    pinned: pinnedNodes,
    issues: [...parsed.issues, ...refused, ...plan.issues],
  };
}

/** What to do to the record now, toward the plan. */
export interface LiveChanges {
  namespaces: NamespaceRecord[];
  services: ServiceRecord[];
  /** uids of planned pods to add (their records come from the plan's `podAt`). */
  create: string[];
  /** uids of pods to remove. */
  remove: string[];
}

/** A Deployment's pods split by template: current ones (planned names first) and old ones. */
export function deploymentPods(
  pods: readonly PodRecord[],
  target: Pick<DeploymentTarget, 'namespace' | 'name' | 'hash'>,
  planned: ReadonlySet<string>,
  ready: (uid: string) => boolean,
): { current: RolloutPod[]; old: RolloutPod[] } {
  const owned = pods.filter(
    (pod) =>
      pod.namespace === target.namespace &&
      pod.owner?.kind === 'Deployment' &&
      pod.owner.name === target.name,
  );
  const asRollout = (pod: PodRecord): RolloutPod => ({ uid: pod.uid, ready: ready(pod.uid) });
  const current = owned.filter((pod) => pod.labels[TEMPLATE_HASH_LABEL] === target.hash);
  return {
    current: [
      ...current.filter((pod) => planned.has(pod.uid)),
      ...current.filter((pod) => !planned.has(pod.uid)),
    ].map(asRollout),
    old: owned.filter((pod) => pod.labels[TEMPLATE_HASH_LABEL] !== target.hash).map(asRollout),
  };
}

/**
 * The next changes toward `live` (which must have planned without errors): new namespaces, every Service
 * as planned, bare pods added or removed, each Deployment's rollout step, and the pods of Deployments
 * that are gone. Waypoint pods (owned by a Gateway) are left to their own extension.
 */
export function liveChanges(
  cluster: Pick<ClusterState, 'namespaces' | 'pods'>,
  live: Pick<LivePlan, 'plan' | 'deployments'>,
  ready: (uid: string) => boolean,
): LiveChanges {
  const state = live.plan.state;
  if (!state) throw new Error('the live plan has errors');
  const running = new Set(cluster.pods.map((pod) => pod.uid));
  const planned = new Set(state.pods.map((pod) => pod.uid));
  const known = new Set(cluster.namespaces.map((namespace) => namespace.name));
  const create = state.pods
    .filter((pod) => pod.owner === undefined && !running.has(pod.uid))
    .map((pod) => pod.uid);
  const remove = cluster.pods
    .filter((pod) => pod.owner === undefined && !planned.has(pod.uid))
    .map((pod) => pod.uid);
  const deployments = new Set(live.deployments.map((target) => `${target.namespace}/${target.name}`));
  for (const pod of cluster.pods) {
    if (pod.owner?.kind === 'Deployment' && !deployments.has(`${pod.namespace}/${pod.owner.name}`))
      remove.push(pod.uid);
  }
  for (const target of live.deployments) {
    const { current, old } = deploymentPods(cluster.pods, target, planned, ready);
    const step = planRolloutStep({ replicas: target.replicas, strategy: target.strategy, current, old });
    remove.push(...step.remove);
    const missing = state.pods.filter(
      (pod) =>
        pod.namespace === target.namespace &&
        pod.owner?.kind === 'Deployment' &&
        pod.owner.name === target.name &&
        !running.has(pod.uid),
    );
    create.push(...missing.slice(0, step.create).map((pod) => pod.uid));
  }
  return {
    namespaces: state.namespaces.filter((namespace) => !known.has(namespace.name)),
    services: state.services,
    create,
    remove,
  };
}

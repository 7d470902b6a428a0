/**
 * From validated resources to a cluster plan: the checks that span documents (one Cluster, pods on existing
 * nodes and namespaces, unique pod names after Deployments expand, Service IPs inside the range), then
 * scheduling, address allocation and naming. Pure: nothing is created here, so a bad file changes nothing.
 */

import { standInFor, standInImages } from '../apps/catalogue.ts';
import type { ConfigIssue, ResourceRef, SourceRef } from '../core/config/issues.ts';
import {
  type Container,
  DEPLOYMENT_KIND,
  type DeploymentSpec,
  NAMESPACE_KIND,
  NODE_PORT_RANGE,
  POD_KIND,
  type PodFieldPath,
  type PodSpec,
  SERVICE_KIND,
  type ServicePortSpec,
  type ServiceSpec,
} from '../core/config/kinds/core.ts';
import type { ProbeKind } from '../core/config/kinds/probes.ts';
import { displayName, ofKind, type Resource } from '../core/config/resource.ts';
import { labelsMatch } from '../core/policy/selector.ts';
import {
  type Cidr,
  cidrContains,
  formatCidr,
  formatIPv4,
  hostAddress,
  parseIPv4,
  subnet,
} from './addresses.ts';
import { CLUSTER_KIND, type ClusterSpec, clusterNameProblem, NODE_POD_PREFIX } from './cluster-kind.ts';
import { expandVars } from './env.ts';
import { PORT_MAPPINGS_EXTENSION_URL, PROMETHEUS_EXTENSION_URL } from './extensions.ts';
import {
  fabricNetns,
  fabricPortName,
  IFACE,
  netnsPath,
  nodeNetns,
  podNetns,
  podVethName,
  routeMetric,
} from './names.ts';
import { type PlannedEnvVar, plannedEnv, resolveEnv } from './plan-env.ts';
import {
  type FailedCheck,
  ObjectIndex,
  type PodMounts,
  type Problem,
  podVolumes,
  type VolumeContent,
} from './plan-volumes.ts';
import { deploymentPodName, podTemplateHash } from './pod-names.ts';
import type { ClusterState, NodeRecord, PodRecord, ProbeRecord, ServiceRecord } from './types.ts';

export type { VolumeContent, VolumeFile } from './plan-volumes.ts';

/** The unprivileged user pods run as unless their securityContext says otherwise (`nobody`). */
export const DEFAULT_POD_USER = 65534;
/** Offset of the cluster DNS VIP in the service range (10.96.0.10 for 10.96.0.0/16, as in Kubernetes). */
const DNS_VIP_OFFSET = 10;

export interface PlanOptions {
  /** Overrides the Cluster document's `metadata.name`. */
  name?: string | undefined;
  /** Directory of this cluster's state, once the name is known. */
  stateDirFor: (name: string) => string;
  extensions: readonly string[];
  /** Overrides the Cluster's `spec.controlPlane.replicas` (`up --control-plane-replicas`). */
  controlPlaneReplicas?: number | undefined;
  now?: Date;
  /**
   * Resources whose documents had errors and were left out: what refers to them is not reported again as
   * referring to something missing, so that one run shows every real problem of a file.
   */
  failed?: readonly ResourceRef[] | undefined;
}

export interface PlanResult {
  state?: ClusterState | undefined;
  /** Kept out of the state record, which is readable by every user: Secret contents live only here. */
  volumes?: VolumeContent | undefined;
  issues: ConfigIssue[];
  /**
   * The record of a planned pod (by uid) on another node and address than planned, and under another name
   * if given: a running cluster places the pods it adds itself, among the ones it already runs.
   */
  podAt?: ((uid: string, node: NodeRecord, ip: string, name?: string) => PodRecord) | undefined;
}

/** A pod to be placed: from a Pod document or one replica of a Deployment. */
/** What the plan looked up for a pod before it has a node and an address: its mounts and its env. */
interface PreparedPod {
  mounts: PodMounts;
  env: PlannedEnvVar[];
  /** Per init container, in order. */
  initEnv: PlannedEnvVar[][];
}

interface PodRequest {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpec;
  owner?: { kind: 'Deployment'; name: string } | undefined;
  origin: Resource;
  /** Field path of the pod spec inside its document (`spec` or `spec.template.spec`). */
  specPath: string;
}

export function planCluster(resources: readonly Resource[], options: PlanOptions): PlanResult {
  const issues: ConfigIssue[] = [];
  const problem = (
    resource: Resource,
    path: string,
    message: string,
    severity: 'error' | 'warning' = 'error',
  ) => issues.push(issueAt(resource, path, message, severity));

  const clusters = ofKind(resources, CLUSTER_KIND);
  if (clusters.length === 0 && (options.failed ?? []).some((ref) => ref.kind === CLUSTER_KIND.kind)) {
    return { issues };
  }
  if (clusters.length === 0) {
    const source: SourceRef = resources[0]?.source ?? { file: 'cluster file', document: 1 };
    issues.push({
      severity: 'error',
      source,
      path: '',
      message:
        'no Cluster document: add one (apiVersion: ambit.dev/v1alpha1, kind: Cluster) listing spec.nodes',
    });
    return { issues };
  }
  for (const extra of clusters.slice(1)) {
    problem(
      extra,
      '',
      `a cluster file holds one Cluster document; the first is in ${where(clusters[0]!.source)}`,
    );
  }
  const cluster = clusters[0]!;
  const name = options.name ?? cluster.metadata.name;
  const nameProblem = clusterNameProblem(name);
  if (nameProblem) {
    problem(cluster, 'metadata.name', `${nameProblem} (given with --name)`);
    return { issues };
  }
  const spec = cluster.spec;
  const nodeNames = spec.nodes.map((node) => node.name);
  const replicas = options.controlPlaneReplicas ?? spec.controlPlane.replicas;
  if (replicas > nodeNames.length)
    problem(
      cluster,
      'spec.controlPlane.replicas',
      `${replicas} control-plane replicas (given with --control-plane-replicas) need as many nodes; spec.nodes lists ${nodeNames.length}`,
    );

  const namespaces = new Map<string, Record<string, string>>([['default', {}]]);
  for (const namespace of ofKind(resources, NAMESPACE_KIND)) {
    namespaces.set(namespace.metadata.name, namespace.metadata.labels);
  }
  const failed = (kind: string, name: string, namespace?: string) =>
    (options.failed ?? []).some(
      (ref) =>
        ref.kind === kind && ref.name === name && (namespace === undefined || ref.namespace === namespace),
    );
  const checkNamespace = (resource: Resource) => {
    const namespace = resource.metadata.namespace!;
    if (namespaces.has(namespace)) return true;
    if (failed('Namespace', namespace)) return false;
    problem(
      resource,
      'metadata.namespace',
      `namespace ${JSON.stringify(namespace)} does not exist: add a Namespace document for it`,
    );
    return false;
  };

  const requests = collectPodRequests(resources, checkNamespace, problem);
  const seenPods = new Map<string, PodRequest>();
  const valid: PodRequest[] = [];
  for (const request of requests) {
    const key = `${request.namespace}/${request.name}`;
    const first = seenPods.get(key);
    if (first) {
      problem(
        request.origin,
        'metadata.name',
        `duplicate Pod ${key}: ${describeOrigin(first)} already creates it${request.owner ? ` (Deployment pods are named <deployment>-<template hash>-<suffix>)` : ''}`,
      );
      continue;
    }
    seenPods.set(key, request);
    if (checkPodForLocal(request, nodeNames, problem)) valid.push(request);
  }
  const objects = new ObjectIndex(resources);
  for (const request of valid) checkServiceAccount(request, objects, failed, problem);

  const placement = schedule(valid, nodeNames);
  const podsPerNode = new Map<string, number>();
  for (const node of placement.values()) podsPerNode.set(node, (podsPerNode.get(node) ?? 0) + 1);
  for (const [node, count] of podsPerNode) {
    // A node's /24 holds 253 pods: .1 is the gateway, .0 and .255 are not host addresses.
    if (count > 253)
      problem(cluster, 'spec.nodes', `node ${node} would hold ${count} pods; a node holds at most 253`);
  }

  const dnsVIP = hostAddress(spec.serviceCIDR, DNS_VIP_OFFSET);
  const serviceResources = ofKind(resources, SERVICE_KIND).filter(checkNamespace);
  const clusterIPs = allocateClusterIPs(serviceResources, spec.serviceCIDR, dnsVIP, problem);
  const nodePorts = allocateNodePorts(serviceResources, problem);
  const volumes: VolumeContent = { directories: [], files: [] };
  const stateDir = options.stateDirFor(name);
  const prepared = new Map(
    valid.map((request): [PodRequest, PreparedPod] => {
      const env = (container: Container, position: string) =>
        plannedEnv(request, container, position, objects, failed, problem);
      return [
        request,
        {
          mounts: podVolumes(request, stateDir, objects, failed, volumes, problem, runAsUserOf(request.spec)),
          env: env(request.spec.containers[0]!, 'containers[0]'),
          initEnv: request.spec.initContainers.map((init, index) => env(init, `initContainers[${index}]`)),
        },
      ];
    }),
  );

  sortByDocument(issues, resources);
  if (issues.some((issue) => issue.severity === 'error')) return { issues };

  const nodes = spec.nodes.map((node, index) => nodeRecord(name, node.name, index, spec));
  const nodeByName = new Map(nodes.map((node) => [node.name, node]));
  const nextOffset = new Map<string, number>();
  const pods = valid.map((request) => {
    const node = nodeByName.get(placement.get(request)!)!;
    const offset = nextOffset.get(node.name) ?? 2;
    nextOffset.set(node.name, offset + 1);
    const ip = formatIPv4(hostAddress(parseNodePodCidr(node), offset));
    return podRecord(name, request, node, ip, prepared.get(request)!);
  });

  const services = serviceResources.map((resource): ServiceRecord => {
    const selector = resource.spec.selector;
    const podUids = selector
      ? pods
          .filter((pod) => pod.namespace === resource.metadata.namespace && labelsMatch(selector, pod.labels))
          .map((pod) => pod.uid)
      : [];
    if (selector && podUids.length === 0)
      problem(resource, 'spec.selector', 'selects no pod of the cluster', 'warning');
    return {
      name: resource.metadata.name,
      namespace: resource.metadata.namespace!,
      type: resource.spec.type,
      labels: resource.metadata.labels,
      sessionAffinity:
        resource.spec.sessionAffinity === 'ClientIP'
          ? { timeoutSeconds: resource.spec.sessionAffinityTimeoutSeconds }
          : undefined,
      publishNotReadyAddresses: resource.spec.publishNotReadyAddresses,
      clusterIP: clusterIPs.get(resource),
      ports: nodePorts.get(resource) ?? resource.spec.ports,
      selector,
      podUids,
    };
  });

  const fabric = fabricNetns(name);
  const state: ClusterState = {
    version: 1,
    name,
    createdAt: (options.now ?? new Date()).toISOString(),
    stateDir,
    addresses: {
      podCIDR: formatCidr(spec.podCIDR),
      serviceCIDR: formatCidr(spec.serviceCIDR),
      underlayCIDR: formatCidr(spec.underlayCIDR),
      dnsVIP: formatIPv4(dnsVIP),
      ...(spec.dnsUpstream !== undefined && { dnsUpstream: spec.dnsUpstream }),
    },
    routeMetric: routeMetric(name),
    fabric: { netns: fabric, netnsPath: netnsPath(fabric), bridge: IFACE.fabricBridge },
    nodes,
    namespaces: [...namespaces].map(([namespace, labels]) => ({ name: namespace, labels })),
    pods,
    services,
    extensions: [
      ...new Set([
        ...options.extensions,
        ...(spec.prometheus ? [PROMETHEUS_EXTENSION_URL] : []),
        ...(spec.portMappings.length > 0 ? [PORT_MAPPINGS_EXTENSION_URL] : []),
      ]),
    ],
    portMappings: spec.portMappings,
    controlPlane: { replicas },
  };
  const requestByUid = new Map(valid.map((request) => [`${request.namespace}/${request.name}`, request]));
  const podAt = (uid: string, node: NodeRecord, ip: string, podName?: string) => {
    const request = requestByUid.get(uid);
    if (!request) throw new Error(`pod ${uid} is not planned`);
    const renamed = { ...request, name: podName ?? request.name };
    return podRecord(name, renamed, node, ip, prepared.get(request)!);
  };
  return { state, volumes, issues, podAt };
}

function collectPodRequests(
  resources: readonly Resource[],
  checkNamespace: (resource: Resource) => boolean,
  problem: (resource: Resource, path: string, message: string) => void,
): PodRequest[] {
  const requests: PodRequest[] = [];
  for (const resource of resources) {
    if (resource.kind === POD_KIND.kind) {
      const pod = resource as Resource<PodSpec>;
      if (!checkNamespace(pod)) continue;
      requests.push({
        name: pod.metadata.name,
        namespace: pod.metadata.namespace!,
        labels: pod.metadata.labels,
        annotations: pod.metadata.annotations,
        spec: pod.spec,
        origin: pod,
        specPath: 'spec',
      });
    } else if (resource.kind === DEPLOYMENT_KIND.kind) {
      const deployment = resource as Resource<DeploymentSpec>;
      if (!checkNamespace(deployment)) continue;
      const { replicas, template } = deployment.spec;
      const hash = podTemplateHash(template);
      for (let index = 0; index < replicas; index++) {
        const podName = deploymentPodName(deployment.metadata.name, hash, index);
        if (podName.length > 253) {
          problem(
            deployment,
            'metadata.name',
            'too long: the names of its pods (<name>-<hash>-<suffix>) would exceed 253 characters',
          );
          break;
        }
        requests.push({
          name: podName,
          namespace: deployment.metadata.namespace!,
          labels: { ...template.labels, 'pod-template-hash': hash },
          annotations: template.annotations,
          spec: template.spec,
          owner: { kind: 'Deployment', name: deployment.metadata.name },
          origin: deployment,
          specPath: 'spec.template.spec',
        });
      }
    }
  }
  return requests;
}

/** What the local cluster needs beyond Kubernetes validation: a node that exists and a command to run. */
function checkPodForLocal(
  request: PodRequest,
  nodeNames: readonly string[],
  problem: (resource: Resource, path: string, message: string, severity?: 'error' | 'warning') => void,
): boolean {
  const { spec, specPath, origin } = request;
  let ok = true;
  if (spec.nodeName !== undefined && !nodeNames.includes(spec.nodeName)) {
    problem(
      origin,
      `${specPath}.nodeName`,
      `node ${JSON.stringify(spec.nodeName)} does not exist: the Cluster's nodes are ${nodeNames.join(', ')}`,
    );
    ok = false;
  }
  const running: [Container, string][] = [
    [spec.containers[0]!, 'containers[0]'],
    ...spec.initContainers.map((init, index): [Container, string] => [init, `initContainers[${index}]`]),
  ];
  for (const [container, position] of running) {
    if (container.command?.length || (container.image && standInFor(container.image))) continue;
    problem(
      origin,
      `${specPath}.${position}.${container.image ? 'image' : 'command'}`,
      container.image
        ? `the local cluster runs no container images and has no stand-in for ${JSON.stringify(container.image)} (stand-ins: ${standInImages().join(', ')}): give the program to run as command (e.g. command: [ambit, echo, --port, "8080"])`
        : 'required in the local cluster: there is no container image to provide an entrypoint, so give the program to run (e.g. [ambit, echo, --port, "8080"])',
    );
    ok = false;
  }
  if (spec.containers.length > 1 && !request.owner) {
    problem(
      origin,
      `${specPath}.containers`,
      'only the first container runs in the local cluster',
      'warning',
    );
  }
  return ok;
}

/** Pods with `nodeName` stay there; the others go, in file order, to the node with the fewest pods. */
function schedule(requests: readonly PodRequest[], nodeNames: readonly string[]): Map<PodRequest, string> {
  const placement = new Map<PodRequest, string>();
  const load = new Map(nodeNames.map((node) => [node, 0]));
  for (const request of requests) {
    if (request.spec.nodeName === undefined) continue;
    placement.set(request, request.spec.nodeName);
    load.set(request.spec.nodeName, load.get(request.spec.nodeName)! + 1);
  }
  for (const request of requests) {
    if (placement.has(request)) continue;
    let best = nodeNames[0]!;
    for (const node of nodeNames) if (load.get(node)! < load.get(best)!) best = node;
    placement.set(request, best);
    load.set(best, load.get(best)! + 1);
  }
  return placement;
}

/** Given ClusterIPs must lie in the range and be free; the others get the lowest free address, in file order. */
function allocateClusterIPs(
  services: readonly Resource<{ clusterIP?: string | undefined }>[],
  range: Cidr,
  dnsVIP: number,
  problem: (resource: Resource, path: string, message: string) => void,
): Map<Resource, string | undefined> {
  const taken = new Map<number, Resource | 'dns'>([[dnsVIP, 'dns']]);
  const result = new Map<Resource, string | undefined>();
  for (const service of services) {
    const given = service.spec.clusterIP;
    if (given === undefined || given === 'None') continue;
    const address = parseIPv4(given)!;
    const last = range.base + 2 ** (32 - range.prefix) - 1;
    if (!cidrContains(range, address) || address === range.base || address === last) {
      problem(
        service,
        'spec.clusterIP',
        `${given} is not a host address of the service range ${formatCidr(range)}`,
      );
      continue;
    }
    const holder = taken.get(address);
    if (holder !== undefined) {
      problem(
        service,
        'spec.clusterIP',
        holder === 'dns'
          ? `${given} is the cluster DNS address`
          : `${given} is already the ClusterIP of Service ${displayName(holder)} (${where(holder.source)})`,
      );
      continue;
    }
    taken.set(address, service);
    result.set(service, given);
  }
  let offset = 1;
  for (const service of services) {
    if (service.spec.clusterIP !== undefined) {
      if (service.spec.clusterIP === 'None') result.set(service, undefined);
      continue;
    }
    while (taken.has(range.base + offset)) offset++;
    if (offset >= 2 ** (32 - range.prefix) - 1) {
      problem(service, 'spec.clusterIP', `the service range ${formatCidr(range)} is full`);
      continue;
    }
    const address = hostAddress(range, offset);
    taken.set(address, service);
    result.set(service, formatIPv4(address));
  }
  return result;
}

function nodeRecord(cluster: string, node: string, index: number, spec: ClusterSpec): NodeRecord {
  const podCidr = subnet(spec.podCIDR, NODE_POD_PREFIX, index);
  const netns = nodeNetns(cluster, node);
  return {
    name: node,
    index,
    netns,
    netnsPath: netnsPath(netns),
    underlayIP: formatIPv4(hostAddress(spec.underlayCIDR, index + 1)),
    underlayPrefix: spec.underlayCIDR.prefix,
    uplink: IFACE.uplink,
    fabricPort: fabricPortName(index),
    podCIDR: formatCidr(podCidr),
    gatewayIP: formatIPv4(hostAddress(podCidr, 1)),
    podBridge: IFACE.podBridge,
  };
}

function parseNodePodCidr(node: NodeRecord): Cidr {
  const [base, prefix] = node.podCIDR.split('/');
  return { base: parseIPv4(base!)!, prefix: Number(prefix) };
}

function podRecord(
  cluster: string,
  request: PodRequest,
  node: NodeRecord,
  ip: string,
  prepared: PreparedPod,
): PodRecord {
  const uid = `${request.namespace}/${request.name}`;
  const { spec } = request;
  const container = spec.containers[0]!;
  const runAsUser = runAsUserOf(spec);
  const runAsGroup = container.securityContext.runAsGroup ?? spec.securityContext.runAsGroup ?? runAsUser;
  const netns = podNetns(cluster, request.namespace, request.name);
  const fields: Record<PodFieldPath, string> = {
    'metadata.name': request.name,
    'metadata.namespace': request.namespace,
    'metadata.uid': uid,
    'spec.nodeName': node.name,
    'spec.serviceAccountName': spec.serviceAccountName,
    'status.podIP': ip,
    'status.hostIP': node.underlayIP,
  };
  return {
    uid,
    name: request.name,
    namespace: request.namespace,
    node: node.name,
    ips: [ip],
    serviceAccount: spec.serviceAccountName,
    labels: request.labels,
    annotations: request.annotations,
    owner: request.owner,
    netns,
    netnsPath: netnsPath(netns),
    hostVeth: podVethName(uid),
    gatewayIP: node.gatewayIP,
    runAsUser,
    runAsGroup,
    container: containerRecord(container, prepared.env, fields),
    initContainers: spec.initContainers.map((init, index) => {
      const env = resolveEnv(prepared.initEnv[index]!, fields);
      return {
        name: init.name,
        argv: containerArgv(init).map((arg) => expandVars(arg, env)),
        env,
        workingDir: init.workingDir ?? '/',
        mounts: prepared.mounts.init[index]!,
      };
    }),
    restartPolicy: spec.restartPolicy,
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds,
    mounts: prepared.mounts.container,
  };
}

/** The first container's user: its securityContext, else the pod's, else `nobody`. */
function runAsUserOf(spec: PodSpec): number {
  return spec.containers[0]!.securityContext.runAsUser ?? spec.securityContext.runAsUser ?? DEFAULT_POD_USER;
}

function containerRecord(
  container: Container,
  planned: readonly PlannedEnvVar[],
  fields: Record<PodFieldPath, string>,
) {
  const env = resolveEnv(planned, fields);
  const argv = containerArgv(container).map((arg) => expandVars(arg, env));
  const probes: Partial<Record<ProbeKind, ProbeRecord>> = {};
  for (const [kind, probe] of Object.entries(container.probes) as [
    ProbeKind,
    NonNullable<Container['probes'][ProbeKind]>,
  ][]) {
    const port = (value: number | string) =>
      typeof value === 'number'
        ? value
        : container.ports.find((candidate) => candidate.name === value)!.containerPort;
    const { handler, ...timing } = probe;
    const host = fields['status.podIP'];
    probes[kind] = {
      ...timing,
      handler:
        handler.type === 'exec'
          ? handler
          : handler.type === 'grpc'
            ? { ...handler, host }
            : { ...handler, port: port(handler.port), host: handler.host ?? host },
    };
  }
  return {
    name: container.name,
    argv,
    env,
    workingDir: container.workingDir ?? '/',
    ports: container.ports,
    image: container.image,
    probes,
  };
}

/**
 * Kubernetes' rule for command and args against the image's ENTRYPOINT and CMD, with a stand-in as the
 * image: `command` replaces the entrypoint (and drops CMD), `args` replaces CMD.
 */
export function containerArgv(container: Pick<Container, 'command' | 'args' | 'image'>): string[] {
  if (container.command?.length) return [...container.command, ...(container.args ?? [])];
  const standIn = container.image ? standInFor(container.image) : undefined;
  if (!standIn) return [...(container.args ?? [])];
  return [...standIn.entrypoint, ...(container.args ?? standIn.defaultArgs)];
}

/** Kubernetes refuses a pod whose ServiceAccount does not exist (`default` always does): warn, since the mesh identity still works. */
function checkServiceAccount(
  request: PodRequest,
  objects: ObjectIndex,
  failed: FailedCheck,
  problem: Problem,
): void {
  const account = request.spec.serviceAccountName;
  if (account === 'default' || failed('ServiceAccount', account, request.namespace)) return;
  if (objects.get('ServiceAccount', request.namespace, account)) return;
  problem(
    request.origin,
    `${request.specPath}.serviceAccountName`,
    `ServiceAccount ${request.namespace}/${account} is not defined (Kubernetes would refuse the pod): add a ServiceAccount document`,
    'warning',
  );
}

/**
 * Node ports of NodePort and LoadBalancer Services: given ones must be unique in the cluster (per protocol);
 * the others get the lowest free port of the range, in file order. Returns the ports with node ports filled in.
 */
function allocateNodePorts(
  services: readonly Resource<ServiceSpec>[],
  problem: Problem,
): Map<Resource, ServicePortSpec[]> {
  const taken = new Map<string, Resource>();
  const result = new Map<Resource, ServicePortSpec[]>();
  services.forEach((service) => {
    service.spec.ports.forEach((port, index) => {
      if (port.nodePort === undefined) return;
      const key = `${port.nodePort}/${port.protocol}`;
      const holder = taken.get(key);
      if (holder) {
        problem(
          service,
          `spec.ports[${index}].nodePort`,
          `${key} is already the node port of Service ${displayName(holder)} (${where(holder.source)})`,
        );
      }
      taken.set(key, service);
    });
  });
  let next: number = NODE_PORT_RANGE.min;
  for (const service of services) {
    if (service.spec.type === 'ClusterIP') continue;
    result.set(
      service,
      service.spec.ports.map((port) => {
        if (port.nodePort !== undefined) return port;
        while (taken.has(`${next}/${port.protocol}`)) next++;
        if (next > NODE_PORT_RANGE.max) {
          problem(
            service,
            'spec.ports',
            `no free node port left in ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`,
          );
          return port;
        }
        taken.set(`${next}/${port.protocol}`, service);
        return { ...port, nodePort: next };
      }),
    );
  }
  return result;
}

/** The container's env in order (later values may use earlier ones), then the variables every pod gets. */
/** Orders issues as the documents appear (checks run kind by kind, users read file by file). */
function sortByDocument(issues: ConfigIssue[], resources: readonly Resource[]): void {
  const files = [...new Set(resources.map((resource) => resource.source.file))];
  const key = (issue: ConfigIssue) => files.indexOf(issue.source.file) * 1e6 + issue.source.document;
  issues.sort((a, b) => key(a) - key(b));
}

function issueAt(
  resource: Resource,
  path: string,
  message: string,
  severity: 'error' | 'warning',
): ConfigIssue {
  return {
    severity,
    source: resource.source,
    resource: { kind: resource.kind, name: resource.metadata.name, namespace: resource.metadata.namespace },
    path,
    message,
  };
}

function where(source: SourceRef): string {
  return `${source.file} document ${source.document}`;
}

function describeOrigin(request: PodRequest): string {
  const kind = request.owner ? 'Deployment' : 'Pod';
  return `${kind} ${displayName(request.origin)} (${where(request.origin.source)})`;
}

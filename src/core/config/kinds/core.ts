/**
 * The core Kubernetes kinds Ambit reads: `Namespace` (v1), `Pod` (v1), `Deployment` (apps/v1) and `Service`
 * (v1), plus the objects workloads refer to (config-objects.ts). Only the fields Ambit uses are modelled,
 * and they are validated as the Kubernetes API server does, so that a file accepted here is accepted by a
 * real cluster and the other way round. Fields that nearly every real manifest carries but that mean little
 * on one machine (`imagePullPolicy`, `resources`, most of `securityContext`, scheduling hints) are
 * validated and otherwise ignored, so users' YAML carries over unchanged; unknown fields are still errors.
 */

import { selectorMatches } from '../../policy/selector.ts';
import type { Field } from '../field.ts';
import { DNS_LABEL, DNS_SUBDOMAIN, type KindDefinition, type ObjectMeta } from '../resource.ts';
import { type LabelSelector, labelSelector } from './common.ts';
import {
  CONFIG_MAP_KIND,
  DATA_KEY,
  NOT_RUN_KINDS,
  SECRET_KIND,
  SERVICE_ACCOUNT_KIND,
} from './config-objects.ts';
import { PROBE_FIELDS, type Probe, type ProbeKind, parseProbe } from './probes.ts';
import { parseVolume, parseVolumeMount, quantity, type Volume, type VolumeMount } from './volumes.ts';

// ---------------------------------------------------------------------------------------------------------
// Namespace

export type NamespaceSpec = Record<string, never>;

export const NAMESPACE_KIND: KindDefinition<NamespaceSpec> = {
  kind: 'Namespace',
  apiVersions: ['v1'],
  namespaced: false,
  topLevel: ['spec', 'status'],
  parse(doc, meta) {
    checkDnsLabelName(doc, meta, 'namespace names');
    const spec = doc.child('spec');
    if (spec.object(['finalizers'])) spec.child('finalizers').strings();
    return {};
  },
};

// ---------------------------------------------------------------------------------------------------------
// Pod

/** Downward-API fields a container's env may reference (`valueFrom.fieldRef.fieldPath`). */
export const POD_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.podIP',
  'status.hostIP',
] as const;
export type PodFieldPath = (typeof POD_FIELD_PATHS)[number];

/** The objects whose keys a container's env may take (`configMapKeyRef`/`secretKeyRef`, `envFrom`). */
export type EnvObjectKind = 'ConfigMap' | 'Secret';

/** One key of a ConfigMap or Secret; a missing object or key is an error unless `optional`. */
export interface EnvKeyRef {
  kind: EnvObjectKind;
  name: string;
  key: string;
  optional: boolean;
}

/**
 * One env var: a literal `value` (with `$(VAR)` expanded), `fieldRef` to a pod field resolved when the pod
 * starts, or `keyRef` to a ConfigMap's or Secret's key (taken as it is, never expanded).
 */
export interface EnvVar {
  name: string;
  value?: string | undefined;
  fieldRef?: PodFieldPath | undefined;
  keyRef?: EnvKeyRef | undefined;
}

/** `envFrom`: every key of a ConfigMap or Secret as a variable named `prefix` + key. */
export interface EnvFromSource {
  kind: EnvObjectKind;
  name: string;
  prefix: string;
  optional: boolean;
}

export type PortProtocol = 'TCP' | 'UDP';

export interface ContainerPort {
  name?: string | undefined;
  containerPort: number;
  protocol: PortProtocol;
}

/** `securityContext` as far as Ambit uses it (pod level, overridden field by field by the container's). */
export interface RunAsContext {
  runAsUser?: number | undefined;
  runAsGroup?: number | undefined;
  runAsNonRoot?: boolean | undefined;
}

export interface Container {
  name: string;
  /** The image reference as written (`registry/repo:tag`); the local cluster runs a stand-in for some. */
  image?: string | undefined;
  command?: string[] | undefined;
  args?: string[] | undefined;
  env: EnvVar[];
  /** Applied before `env`, in order: a later source's key wins, and `env` wins over all of them. */
  envFrom: EnvFromSource[];
  workingDir?: string | undefined;
  ports: ContainerPort[];
  securityContext: RunAsContext;
  volumeMounts: VolumeMount[];
  probes: Partial<Record<ProbeKind, Probe>>;
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface PodSpec {
  containers: Container[];
  /** Run to completion one after another, in order, before `containers` start (never with probes). */
  initContainers: Container[];
  nodeName?: string | undefined;
  /** The pod's identity in the mesh; `default` when unset, as in Kubernetes. */
  serviceAccountName: string;
  securityContext: RunAsContext;
  restartPolicy: RestartPolicy;
  /** How long the container has between SIGTERM and SIGKILL when it stops (Kubernetes' default: 30). */
  terminationGracePeriodSeconds: number;
  volumes: Volume[];
}

export const POD_KIND: KindDefinition<PodSpec> = {
  kind: 'Pod',
  apiVersions: ['v1'],
  namespaced: true,
  topLevel: ['spec', 'status'],
  parse(doc) {
    return parsePodSpec(doc.child('spec'));
  },
};

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
/** Kubernetes' IANA_SVC_NAME: what container port names and named Service targetPorts must be. */
const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/;
const IANA_SVC_NAME_HINT =
  'port names are at most 15 lowercase alphanumerics or -, with a letter, no leading, trailing or double -';
/** Linux uids and gids as Kubernetes accepts them (int64 in the API, 0..2^31-1 in validation). */
const MAX_ID = 2_147_483_647;
const DEFAULT_GRACE_SECONDS = 30;

/** Pod spec fields that are validated as to their shape and have no effect in the local cluster. */
const POD_SCHEDULING_FIELDS = [
  'affinity',
  'tolerations',
  'nodeSelector',
  'topologySpreadConstraints',
  'priorityClassName',
  'priority',
  'schedulerName',
  'imagePullSecrets',
  'dnsPolicy',
  'dnsConfig',
  'hostname',
  'subdomain',
  'automountServiceAccountToken',
  'enableServiceLinks',
  'preemptionPolicy',
  'runtimeClassName',
] as const;

/**
 * Pod spec fields the local cluster has no counterpart for (no gates, hooks or host aliases): accepted, so
 * that manifests written for Kubernetes apply, each with a warning saying it is ignored.
 */
const POD_IGNORED_FIELDS = {
  hostUsers: 'boolean',
  shareProcessNamespace: 'boolean',
  setHostnameAsFQDN: 'boolean',
  activeDeadlineSeconds: 'integer',
  os: 'object',
  overhead: 'object',
  hostAliases: 'list',
  readinessGates: 'list',
  ephemeralContainers: 'list',
  resourceClaims: 'list',
  schedulingGates: 'list',
} as const;

/** Container fields likewise accepted and ignored (no hooks, no in-place resize, no block devices). */
const CONTAINER_IGNORED_FIELDS = {
  lifecycle: 'object',
  resizePolicy: 'list',
  volumeDevices: 'list',
} as const;

/**
 * Every local pod has its own namespaces: sharing the host's is refused (the pod would not get what it asks
 * for, and a host-network pod is never captured by the mesh), `false` (the default) is accepted.
 */
const HOST_NAMESPACE_FIELDS = ['hostNetwork', 'hostPID', 'hostIPC'] as const;

function hostNamespaces(spec: Field): void {
  for (const key of HOST_NAMESPACE_FIELDS) {
    if (spec.child(key).boolean() === true)
      spec.child(key).error(`the local cluster gives every pod its own namespaces: ${key} cannot be true`);
  }
}

/** Checks the shape of fields the local cluster ignores and warns for each one given. */
function ignoredFields(
  field: Field,
  fields: Readonly<Record<string, 'boolean' | 'integer' | 'object' | 'list'>>,
): void {
  for (const [key, shape] of Object.entries(fields)) {
    const child = field.child(key);
    if (!child.present) continue;
    if (shape === 'boolean') child.boolean();
    else if (shape === 'integer') child.integer({ min: 0 });
    else if (shape === 'object') child.object('any');
    else child.list((item) => item.object('any', { required: true }));
    child.warn('accepted, but not acted on by the local cluster');
  }
}

export function parsePodSpec(spec: Field): PodSpec | undefined {
  if (
    !spec.object(
      [
        'containers',
        'initContainers',
        'nodeName',
        'serviceAccountName',
        'serviceAccount',
        'securityContext',
        'restartPolicy',
        'terminationGracePeriodSeconds',
        'volumes',
        ...POD_SCHEDULING_FIELDS,
        ...HOST_NAMESPACE_FIELDS,
        ...Object.keys(POD_IGNORED_FIELDS),
      ],
      { required: true },
    )
  ) {
    return undefined;
  }
  parseSchedulingFields(spec);
  ignoredFields(spec, POD_IGNORED_FIELDS);
  hostNamespaces(spec);
  const volumeNames = uniqueIn('volume name');
  const volumes =
    spec.child('volumes').list((item) => {
      const volume = parseVolume(item);
      if (volume) volumeNames(item.child('name'), volume.name);
      return volume;
    }) ?? [];
  const terminationGracePeriodSeconds =
    spec.child('terminationGracePeriodSeconds').integer({ min: 0, max: MAX_ID }) ?? DEFAULT_GRACE_SECONDS;
  const securityContext = parseRunAsContext(spec.child('securityContext'), 'pod');
  const containerNames = uniqueIn('container name');
  const portNames = uniqueIn('port name');
  const checkedContainer = (item: Field) => {
    const container = parseContainer(item, portNames);
    if (!container) return undefined;
    container.volumeMounts.forEach((mount, index) => {
      if (!volumes.some((volume) => volume.name === mount.name)) {
        item
          .child(`volumeMounts[${index}]`)
          .child('name')
          .error(`no volume ${JSON.stringify(mount.name)} in spec.volumes`);
      }
    });
    containerNames(item.child('name'), container.name);
    const effective = { ...securityContext, ...definedOnly(container.securityContext) };
    if (effective.runAsNonRoot && effective.runAsUser === 0) {
      item.error('runAsNonRoot is true but runAsUser is 0: the container would run as root');
    }
    return container;
  };
  const initContainers =
    spec.child('initContainers').list((item) => {
      const container = checkedContainer(item);
      for (const key of Object.values(PROBE_FIELDS)) {
        if (item.child(key).present)
          item.child(key).error('init containers run to completion: they take no probes');
      }
      return container;
    }) ?? [];
  const containers = spec.child('containers').list(checkedContainer, { required: true, nonEmpty: true });
  const nodeName = spec.child('nodeName').string({ pattern: DNS_SUBDOMAIN, patternHint: DNS_SUBDOMAIN_HINT });
  // `serviceAccount` is the deprecated alias Kubernetes still honours when `serviceAccountName` is unset;
  // an empty name is unset too (Kubernetes defaults it, as Istio's rate-limit sample relies on).
  const account = (name: string) => {
    const field = spec.child(name);
    return field.value === ''
      ? undefined
      : field.string({ pattern: DNS_SUBDOMAIN, patternHint: DNS_SUBDOMAIN_HINT });
  };
  const serviceAccountName = account('serviceAccountName') ?? account('serviceAccount') ?? 'default';
  const restartPolicy =
    spec.child('restartPolicy').oneOf(['Always', 'OnFailure', 'Never'] as const) ?? 'Always';
  if (!containers || containers.length === 0 || !securityContext) return undefined;
  return {
    containers,
    initContainers,
    nodeName,
    serviceAccountName,
    securityContext,
    restartPolicy,
    terminationGracePeriodSeconds,
    volumes,
  };
}

function parseSchedulingFields(spec: Field): void {
  for (const key of ['affinity', 'dnsConfig'] as const) spec.child(key).object('any');
  for (const key of ['tolerations', 'topologySpreadConstraints', 'imagePullSecrets'] as const) {
    spec.child(key).list((item) => item.object('any', { required: true }));
  }
  spec.child('nodeSelector').map((item) => item.string({ required: true }));
  for (const key of ['priorityClassName', 'schedulerName', 'runtimeClassName'] as const)
    spec.child(key).string();
  spec.child('priority').integer();
  spec.child('dnsPolicy').oneOf(['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] as const);
  spec.child('preemptionPolicy').oneOf(['PreemptLowerPriority', 'Never'] as const);
  for (const key of ['hostname', 'subdomain'] as const) {
    spec.child(key).string({ pattern: DNS_LABEL, patternHint: DNS_LABEL_HINT });
  }
  for (const key of ['automountServiceAccountToken', 'enableServiceLinks'] as const)
    spec.child(key).boolean();
}

function parseContainer(item: Field, portNames: UniqueCheck): Container | undefined {
  if (
    !item.object(
      [
        'name',
        'image',
        'imagePullPolicy',
        'resources',
        'command',
        'args',
        'env',
        'envFrom',
        'workingDir',
        'ports',
        'securityContext',
        'volumeMounts',
        ...Object.values(PROBE_FIELDS),
        'terminationMessagePath',
        'terminationMessagePolicy',
        'stdin',
        'stdinOnce',
        'tty',
        ...Object.keys(CONTAINER_IGNORED_FIELDS),
      ],
      { required: true },
    )
  ) {
    return undefined;
  }
  ignoredFields(item, CONTAINER_IGNORED_FIELDS);
  const name = item.child('name').string({ required: true, pattern: DNS_LABEL, patternHint: DNS_LABEL_HINT });
  const image = item.child('image').string({ nonEmpty: true });
  item.child('imagePullPolicy').oneOf(['Always', 'IfNotPresent', 'Never'] as const);
  parseResources(item.child('resources'));
  item.child('terminationMessagePath').string({ pattern: /^\//, patternHint: 'must be an absolute path' });
  item.child('terminationMessagePolicy').oneOf(['File', 'FallbackToLogsOnError'] as const);
  for (const key of ['stdin', 'stdinOnce', 'tty'] as const) item.child(key).boolean();
  const mountPaths = uniqueIn('mountPath');
  const volumeMounts =
    item.child('volumeMounts').list((entry) => {
      const mount = parseVolumeMount(entry);
      if (mount) mountPaths(entry.child('mountPath'), mount.mountPath);
      return mount;
    }) ?? [];
  const probes: Partial<Record<ProbeKind, Probe>> = {};
  for (const [kind, key] of Object.entries(PROBE_FIELDS) as [ProbeKind, string][]) {
    const probe = item.child(key).present ? parseProbe(item.child(key), kind) : undefined;
    if (probe) probes[kind] = probe;
  }
  const command = item.child('command').strings();
  const args = item.child('args').strings();
  const env = item.child('env').list(parseEnvVar) ?? [];
  const envFrom = item.child('envFrom').list(parseEnvFrom) ?? [];
  const workingDir = item
    .child('workingDir')
    .string({ pattern: /^\//, patternHint: 'must be an absolute path' });
  const ports =
    item.child('ports').list((port) => {
      const parsed = parseContainerPort(port);
      if (parsed?.name !== undefined) portNames(port.child('name'), parsed.name);
      return parsed;
    }) ?? [];
  for (const [kind, probe] of Object.entries(probes)) {
    const port = 'port' in probe.handler ? probe.handler.port : undefined;
    if (typeof port === 'string' && !ports.some((candidate) => candidate.name === port)) {
      item
        .child(PROBE_FIELDS[kind as ProbeKind])
        .child(probe.handler.type)
        .child('port')
        .error(`no container port is named ${JSON.stringify(port)}`);
    }
  }
  const securityContext = parseRunAsContext(item.child('securityContext'), 'container');
  if (name === undefined || !securityContext) return undefined;
  return {
    name,
    image,
    command,
    args,
    env,
    envFrom,
    workingDir,
    ports,
    securityContext,
    volumeMounts,
    probes,
  };
}

/** `resources`: requests and limits are quantities per resource name (`cpu`, `memory`, extended resources). */
function parseResources(field: Field): void {
  const resources = field.object(['limits', 'requests', 'claims']);
  if (!resources) return;
  for (const key of ['limits', 'requests'] as const) resources.child(key).map((value) => quantity(value));
  resources.child('claims').list((claim) => claim.object(['name', 'request'], { required: true }));
}

function parseEnvVar(item: Field): EnvVar | undefined {
  if (!item.object(['name', 'value', 'valueFrom'], { required: true })) return undefined;
  const name = item.child('name').string({
    required: true,
    pattern: ENV_NAME,
    patternHint: 'env names are letters, digits, -, _ and ., not starting with a digit',
  });
  item.exclusive(['value', 'valueFrom']);
  const value = item.child('value').string();
  let fieldRef: PodFieldPath | undefined;
  let keyRef: EnvKeyRef | undefined;
  const sources = ['fieldRef', 'configMapKeyRef', 'secretKeyRef', 'resourceFieldRef'] as const;
  const valueFrom = item.child('valueFrom').object(sources);
  if (valueFrom) {
    const given = sources.filter((source) => valueFrom.child(source).present);
    if (given.length !== 1) {
      return valueFrom.error(
        given.length === 0
          ? `set one of ${sources.join(', ')}`
          : `${given.join(' and ')} are mutually exclusive: set only one`,
      );
    }
    if (given[0] === 'resourceFieldRef') {
      // Local pods have no resource limits to report: the variable is set, empty.
      const ref = valueFrom
        .child('resourceFieldRef')
        .object(['resource', 'containerName', 'divisor'], { required: true });
      ref?.child('resource').string({ required: true, nonEmpty: true });
      ref?.child('containerName').string();
      if (ref?.child('divisor').present) quantity(ref.child('divisor'));
      valueFrom.child('resourceFieldRef').warn('accepted, but the local cluster sets the variable empty');
    } else if (given[0] === 'fieldRef') {
      const ref = valueFrom.child('fieldRef').object(['fieldPath', 'apiVersion'], { required: true });
      ref?.child('apiVersion').oneOf(['v1'] as const);
      fieldRef = ref?.child('fieldPath').oneOf(POD_FIELD_PATHS, { required: true });
      if (fieldRef === undefined) return undefined;
    } else {
      keyRef = parseKeyRef(
        valueFrom.child(given[0]!),
        given[0] === 'configMapKeyRef' ? 'ConfigMap' : 'Secret',
      );
      if (keyRef === undefined) return undefined;
    }
  }
  return name === undefined ? undefined : { name, value, fieldRef, keyRef };
}

function parseKeyRef(field: Field, kind: EnvObjectKind): EnvKeyRef | undefined {
  if (!field.object(['name', 'key', 'optional'], { required: true })) return undefined;
  const name = objectName(field.child('name'));
  const key = field.child('key').string({
    required: true,
    pattern: DATA_KEY,
    patternHint: 'keys are alphanumerics, -, _ and .',
  });
  const optional = field.child('optional').boolean() ?? false;
  return name === undefined || key === undefined ? undefined : { kind, name, key, optional };
}

function parseEnvFrom(item: Field): EnvFromSource | undefined {
  const sources = ['configMapRef', 'secretRef'] as const;
  if (!item.object(['prefix', ...sources], { required: true })) return undefined;
  const given = sources.filter((source) => item.child(source).present);
  if (given.length !== 1) {
    return item.error(
      given.length === 0
        ? 'set configMapRef or secretRef'
        : 'configMapRef and secretRef are mutually exclusive: set only one',
    );
  }
  const prefix = item.child('prefix').string() ?? '';
  const ref = item.child(given[0]!);
  if (!ref.object(['name', 'optional'], { required: true })) return undefined;
  const name = objectName(ref.child('name'));
  const optional = ref.child('optional').boolean() ?? false;
  const kind = given[0] === 'configMapRef' ? 'ConfigMap' : 'Secret';
  return name === undefined ? undefined : { kind, name, prefix, optional };
}

/** The name of a ConfigMap or Secret that a container refers to. */
function objectName(field: Field): string | undefined {
  return field.string({ required: true, pattern: DNS_SUBDOMAIN, patternHint: DNS_SUBDOMAIN_HINT });
}

function parseContainerPort(item: Field): ContainerPort | undefined {
  if (!item.object(['name', 'containerPort', 'protocol', 'hostPort', 'hostIP'], { required: true })) {
    return undefined;
  }
  const name = item.child('name').string({ pattern: IANA_SVC_NAME, patternHint: IANA_SVC_NAME_HINT });
  const containerPort = item.child('containerPort').port({ required: true });
  const protocol = parseProtocol(item.child('protocol'));
  if (item.child('hostPort').present || item.child('hostIP').present) {
    item.child(item.child('hostPort').present ? 'hostPort' : 'hostIP').error('host ports are not supported');
  }
  return containerPort === undefined ? undefined : { name, containerPort, protocol };
}

/** securityContext fields besides the user and group, per level: validated, not enforced locally. */
const SECURITY_FIELDS = {
  pod: [
    'fsGroup',
    'fsGroupChangePolicy',
    'supplementalGroups',
    'supplementalGroupsPolicy',
    'seccompProfile',
    'seLinuxOptions',
    'seLinuxChangePolicy',
    'sysctls',
    'windowsOptions',
    'appArmorProfile',
  ],
  container: [
    'allowPrivilegeEscalation',
    'capabilities',
    'privileged',
    'procMount',
    'readOnlyRootFilesystem',
    'seccompProfile',
    'seLinuxOptions',
    'windowsOptions',
    'appArmorProfile',
  ],
} as const;

function parseRunAsContext(field: Field, level: keyof typeof SECURITY_FIELDS): RunAsContext | undefined {
  if (!field.present) return {};
  if (!field.object(['runAsUser', 'runAsGroup', 'runAsNonRoot', ...SECURITY_FIELDS[level]])) return undefined;
  for (const key of [
    'seccompProfile',
    'seLinuxOptions',
    'windowsOptions',
    'appArmorProfile',
    'capabilities',
  ]) {
    field.child(key).object('any');
  }
  for (const key of ['allowPrivilegeEscalation', 'privileged', 'readOnlyRootFilesystem'])
    field.child(key).boolean();
  field.child('fsGroup').integer({ min: 0, max: MAX_ID });
  field.child('supplementalGroups').list((group) => group.integer({ required: true, min: 0, max: MAX_ID }));
  field.child('fsGroupChangePolicy').oneOf(['OnRootMismatch', 'Always'] as const);
  field.child('supplementalGroupsPolicy').oneOf(['Merge', 'Strict'] as const);
  field.child('procMount').oneOf(['Default', 'Unmasked'] as const);
  field.child('sysctls').list((sysctl) => sysctl.object(['name', 'value'], { required: true }));
  return {
    runAsUser: field.child('runAsUser').integer({ min: 0, max: MAX_ID }),
    runAsGroup: field.child('runAsGroup').integer({ min: 0, max: MAX_ID }),
    runAsNonRoot: field.child('runAsNonRoot').boolean(),
  };
}

function parseProtocol(field: Field): PortProtocol {
  if (field.value === 'SCTP') {
    field.error('SCTP is not supported: use TCP or UDP');
    return 'TCP';
  }
  return field.oneOf(['TCP', 'UDP'] as const) ?? 'TCP';
}

// ---------------------------------------------------------------------------------------------------------
// Deployment

export interface PodTemplate {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpec;
}

export interface DeploymentSpec {
  replicas: number;
  selector: LabelSelector;
  template: PodTemplate;
}

export const DEPLOYMENT_KIND: KindDefinition<DeploymentSpec> = {
  kind: 'Deployment',
  apiVersions: ['apps/v1'],
  namespaced: true,
  topLevel: ['spec', 'status'],
  parse(doc) {
    const spec = doc
      .child('spec')
      .object(
        [
          'replicas',
          'selector',
          'template',
          'strategy',
          'minReadySeconds',
          'revisionHistoryLimit',
          'progressDeadlineSeconds',
          'paused',
        ],
        { required: true },
      );
    if (!spec) return undefined;
    const replicas = spec.child('replicas').integer({ min: 0, max: 1000 }) ?? 1;
    spec.child('strategy').object('any');
    const selector = parseLabelSelector(spec.child('selector'));
    const template = parsePodTemplate(spec.child('template'));
    if (!selector || !template) return undefined;
    if (template.spec.restartPolicy !== 'Always') {
      spec
        .child('template')
        .child('spec')
        .child('restartPolicy')
        .error('a Deployment\'s pods must have restartPolicy "Always"');
      return undefined;
    }
    if (!selectorMatches(selector, template.labels)) {
      spec
        .child('selector')
        .error('does not match the template labels: the Deployment would never see its own pods');
      return undefined;
    }
    return { replicas, selector, template };
  },
};

function parseLabelSelector(field: Field): LabelSelector | undefined {
  const selector = labelSelector(field, { required: true });
  if (selector && Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0) {
    return field.error('must not be empty: an empty selector would select every pod');
  }
  return selector;
}

function parsePodTemplate(field: Field): PodTemplate | undefined {
  if (!field.object(['metadata', 'spec'], { required: true })) return undefined;
  const meta = field.child('metadata');
  let labels: Record<string, string> = {};
  let annotations: Record<string, string> = {};
  if (meta.object(['labels', 'annotations', 'name', 'namespace'])) {
    labels = meta.child('labels').labels() ?? {};
    annotations = meta.child('annotations').map((item) => item.string({ required: true })) ?? {};
  }
  const spec = parsePodSpec(field.child('spec'));
  return spec ? { labels, annotations, spec } : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Service

export interface ServicePortSpec {
  name?: string | undefined;
  port: number;
  /** NodePort and LoadBalancer Services: the port on every node (given, or allocated by the cluster). */
  nodePort?: number | undefined;
  /** A number, or the name of a container port of the selected pods. Defaults to `port`. */
  targetPort: number | string;
  protocol: PortProtocol;
  appProtocol?: string | undefined;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';
export type IpFamily = 'IPv4' | 'IPv6';
export type IpFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

/** Kubernetes' default NodePort range (the API server's --service-node-port-range). */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

export interface ServiceSpec {
  type: ServiceType;
  sessionAffinity: 'None' | 'ClientIP';
  /** ClientIP affinity's timeout (Kubernetes' default: 3 hours). */
  sessionAffinityTimeoutSeconds: number;
  ipFamilyPolicy: IpFamilyPolicy;
  /** As given; empty means the cluster's default family. */
  ipFamilies: IpFamily[];
  publishNotReadyAddresses: boolean;
  /** Undefined: a Service without selector (its endpoints are not derived from pods). */
  selector?: Record<string, string> | undefined;
  ports: ServicePortSpec[];
  /** An IPv4 address, `None` (headless), or undefined to have one allocated from the service range. */
  clusterIP?: string | undefined;
}

/** Kubernetes' DNS-1035 label: Service names must start with a letter (they become DNS names). */
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export const SERVICE_KIND: KindDefinition<ServiceSpec> = {
  kind: 'Service',
  apiVersions: ['v1'],
  namespaced: true,
  topLevel: ['spec', 'status'],
  parse(doc, meta) {
    if (!DNS_1035_LABEL.test(meta.name)) {
      doc
        .child('metadata')
        .child('name')
        .error(
          'Service names are at most 63 lowercase alphanumerics or -, starting with a letter (DNS-1035)',
        );
    }
    const spec = doc
      .child('spec')
      .object(
        [
          'type',
          'selector',
          'ports',
          'clusterIP',
          'clusterIPs',
          'sessionAffinity',
          'sessionAffinityConfig',
          'ipFamilyPolicy',
          'ipFamilies',
          'externalTrafficPolicy',
          'internalTrafficPolicy',
          'publishNotReadyAddresses',
          'loadBalancerIP',
          'loadBalancerSourceRanges',
          'loadBalancerClass',
          'allocateLoadBalancerNodePorts',
          'externalIPs',
          'trafficDistribution',
        ],
        { required: true },
      );
    if (!spec) return undefined;
    if (spec.child('type').value === 'ExternalName') {
      spec
        .child('type')
        .error('ExternalName Services are not supported: use ClusterIP, NodePort or LoadBalancer');
    }
    const type = spec.child('type').oneOf(['ClusterIP', 'NodePort', 'LoadBalancer'] as const) ?? 'ClusterIP';
    const sessionAffinity = spec.child('sessionAffinity').oneOf(['None', 'ClientIP'] as const) ?? 'None';
    const sessionAffinityTimeoutSeconds = parseAffinityConfig(
      spec.child('sessionAffinityConfig'),
      sessionAffinity,
    );
    const { ipFamilyPolicy, ipFamilies } = parseIpFamilies(spec);
    spec.child('externalTrafficPolicy').oneOf(['Cluster', 'Local'] as const);
    spec.child('internalTrafficPolicy').oneOf(['Cluster', 'Local'] as const);
    const publishNotReadyAddresses = spec.child('publishNotReadyAddresses').boolean() ?? false;
    spec.child('loadBalancerIP').string();
    spec.child('loadBalancerClass').string();
    spec.child('trafficDistribution').string();
    spec.child('allocateLoadBalancerNodePorts').boolean();
    spec.child('loadBalancerSourceRanges').strings();
    spec.child('externalIPs').strings();
    spec.child('clusterIPs').strings();
    const selector = spec.child('selector').present ? spec.child('selector').labels() : undefined;
    const clusterIP = parseClusterIP(spec.child('clusterIP'));
    const headless = clusterIP === 'None';
    const portList = spec.child('ports');
    const names = uniqueIn('port name');
    const numbers = uniqueIn('port and protocol');
    const ports =
      portList.list(
        (item) => {
          const port = parseServicePort(item, type);
          if (!port) return undefined;
          if (port.name !== undefined) names(item.child('name'), port.name);
          else if (Array.isArray(portList.value) && portList.value.length > 1) {
            item.child('name').error('required when a Service has more than one port');
          }
          numbers(item.child('port'), `${port.port}/${port.protocol}`);
          return port;
        },
        { required: !headless, nonEmpty: !headless },
      ) ?? [];
    if (headless && type !== 'ClusterIP') {
      spec.child('clusterIP').error(`a ${type} Service cannot be headless (clusterIP: None)`);
    }
    return {
      type,
      sessionAffinity,
      sessionAffinityTimeoutSeconds,
      ipFamilyPolicy,
      ipFamilies,
      publishNotReadyAddresses,
      selector,
      ports,
      clusterIP,
    };
  },
};

const DEFAULT_AFFINITY_TIMEOUT = 10_800;

function parseAffinityConfig(field: Field, affinity: 'None' | 'ClientIP'): number {
  if (!field.object(['clientIP'])) return DEFAULT_AFFINITY_TIMEOUT;
  if (affinity !== 'ClientIP') field.error('only allowed with sessionAffinity: ClientIP');
  const clientIP = field.child('clientIP');
  if (!clientIP.object(['timeoutSeconds'])) return DEFAULT_AFFINITY_TIMEOUT;
  return clientIP.child('timeoutSeconds').integer({ min: 1, max: 86_400 }) ?? DEFAULT_AFFINITY_TIMEOUT;
}

function parseIpFamilies(spec: Field): { ipFamilyPolicy: IpFamilyPolicy; ipFamilies: IpFamily[] } {
  const ipFamilyPolicy =
    spec.child('ipFamilyPolicy').oneOf(['SingleStack', 'PreferDualStack', 'RequireDualStack'] as const) ??
    'SingleStack';
  const families = spec.child('ipFamilies');
  const ipFamilies = families.list((item) => item.oneOf(['IPv4', 'IPv6'] as const, { required: true })) ?? [];
  if (ipFamilies.length > 2) families.error('lists at most two families (one IPv4, one IPv6)');
  else if (ipFamilies.length === 2 && ipFamilies[0] === ipFamilies[1]) families.error('lists a family twice');
  else if (ipFamilies.length === 2 && ipFamilyPolicy === 'SingleStack') {
    families.error('two families need ipFamilyPolicy PreferDualStack or RequireDualStack');
  }
  if (ipFamilyPolicy === 'RequireDualStack' || ipFamilies.includes('IPv6')) {
    spec
      .child(ipFamilyPolicy === 'RequireDualStack' ? 'ipFamilyPolicy' : 'ipFamilies')
      .warn('the local cluster is IPv4 only: the Service gets an IPv4 address');
  }
  return { ipFamilyPolicy, ipFamilies };
}

function parseClusterIP(field: Field): string | undefined {
  const value = field.string();
  if (value === undefined || value === '') return undefined;
  if (value !== 'None' && !IPV4.test(value)) {
    return field.error(
      `invalid value ${JSON.stringify(value)}: must be an IPv4 address or "None" (headless)`,
    );
  }
  return value;
}

function parseServicePort(item: Field, type: ServiceType): ServicePortSpec | undefined {
  if (
    !item.object(['name', 'port', 'targetPort', 'protocol', 'appProtocol', 'nodePort'], { required: true })
  ) {
    return undefined;
  }
  const name = item.child('name').string({ pattern: DNS_LABEL, patternHint: DNS_LABEL_HINT });
  const port = item.child('port').port({ required: true });
  const protocol = parseProtocol(item.child('protocol'));
  const appProtocol = item.child('appProtocol').string({
    pattern: QUALIFIED_NAME,
    patternHint: 'use a protocol name such as http, http2, grpc or tcp, optionally with a domain/ prefix',
  });
  let nodePort: number | undefined;
  if (item.child('nodePort').present) {
    nodePort = item.child('nodePort').integer(NODE_PORT_RANGE);
    if (type === 'ClusterIP') {
      item.child('nodePort').error('only NodePort and LoadBalancer Services have node ports');
    }
  }
  const targetPort = parseTargetPort(item.child('targetPort'));
  if (port === undefined) return undefined;
  return { name, port, nodePort, targetPort: targetPort ?? port, protocol, appProtocol };
}

function parseTargetPort(field: Field): number | string | undefined {
  if (typeof field.value === 'string') {
    return field.string({ pattern: IANA_SVC_NAME, patternHint: IANA_SVC_NAME_HINT });
  }
  return field.port();
}

// ---------------------------------------------------------------------------------------------------------

export const CORE_KINDS: readonly KindDefinition[] = [
  NAMESPACE_KIND,
  POD_KIND,
  DEPLOYMENT_KIND,
  SERVICE_KIND,
  SERVICE_ACCOUNT_KIND,
  CONFIG_MAP_KIND,
  SECRET_KIND,
  ...NOT_RUN_KINDS,
];

const DNS_LABEL_HINT = 'must be at most 63 lowercase alphanumerics or -, starting and ending alphanumeric';
const DNS_SUBDOMAIN_HINT = 'must be lowercase alphanumerics, - and . (DNS-1123 subdomain)';

function checkDnsLabelName(doc: Field, meta: ObjectMeta, what: string): void {
  if (!DNS_LABEL.test(meta.name)) {
    doc
      .child('metadata')
      .child('name')
      .error(`${what} are at most 63 lowercase alphanumerics or -, with no dots (DNS-1123 label)`);
  }
}

type UniqueCheck = (field: Field, key: string) => void;

/** A checker that reports, on the offending field, each key that repeats one seen before. */
function uniqueIn(what: string): UniqueCheck {
  const seen = new Set<string>();
  return (field, key) => {
    if (seen.has(key)) field.error(`duplicate ${what} ${JSON.stringify(key)}`);
    seen.add(key);
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

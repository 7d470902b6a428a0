/**
 * Builders for the Kubernetes-style documents tests feed to `ambit local up` and `ambit apply`: objects in,
 * YAML out (through the `yaml` library, so quoting is right), with the defaults most tests want. A test
 * spells out only what it is about.
 */
import { stringify } from 'yaml';

/** One YAML stream of the documents, in order. */
export function manifests(...documents: readonly object[]): string {
  return documents
    .map((document) => stringify(document, { aliasDuplicateObjects: false }).trimEnd())
    .join('\n---\n');
}

export const DATAPLANE_MODE = 'istio.io/dataplane-mode';

/** The Cluster document of a local cluster: two nodes (n1, n2) unless told otherwise. */
export function clusterDoc(name: string, options: { nodes?: readonly string[]; spec?: object } = {}): object {
  const nodes = (options.nodes ?? ['n1', 'n2']).map((node) => ({ name: node }));
  return {
    apiVersion: 'ambit.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name },
    spec: { nodes, ...options.spec },
  };
}

/** A Namespace; `ambient: true` enrolls its pods in the mesh. */
export function namespaceDoc(
  name: string,
  options: { labels?: Record<string, string>; ambient?: boolean } = {},
): object {
  const labels = { ...options.labels, ...(options.ambient ? { [DATAPLANE_MODE]: 'ambient' } : {}) };
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: Object.keys(labels).length > 0 ? { name, labels } : { name },
  };
}

export interface PodOptions {
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Pinned to this node (else the cluster places it). */
  node?: string;
  serviceAccount?: string;
  /** The container's command (default: sleep forever). */
  command?: readonly string[];
  /** Named container ports: name -> port. */
  ports?: Record<string, number>;
  env?: Record<string, string>;
  runAsUser?: number;
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
}

function podSpec(options: PodOptions): object {
  const container: Record<string, unknown> = {
    name: 'main',
    command: options.command ?? ['sleep', 'infinity'],
  };
  if (options.env) container.env = Object.entries(options.env).map(([name, value]) => ({ name, value }));
  if (options.ports) {
    container.ports = Object.entries(options.ports).map(([name, containerPort]) => ({ name, containerPort }));
  }
  return {
    ...(options.node ? { nodeName: options.node } : {}),
    ...(options.serviceAccount ? { serviceAccountName: options.serviceAccount } : {}),
    ...(options.runAsUser !== undefined ? { securityContext: { runAsUser: options.runAsUser } } : {}),
    ...(options.restartPolicy ? { restartPolicy: options.restartPolicy } : {}),
    containers: [container],
  };
}

function objectMeta(
  name: string,
  options: Pick<PodOptions, 'namespace' | 'labels' | 'annotations'>,
): Record<string, unknown> {
  return {
    name,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    ...(options.labels ? { labels: options.labels } : {}),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
}

export function podDoc(name: string, options: PodOptions = {}): object {
  return { apiVersion: 'v1', kind: 'Pod', metadata: objectMeta(name, options), spec: podSpec(options) };
}

/**
 * A pod running `ambit echo`: HTTP on 8080 (port name http) and, with `tcp`, TCP echo on 9000 (tcp); it
 * reports `version` (default: its name).
 */
export function echoPod(
  name: string,
  options: Omit<PodOptions, 'command' | 'ports'> & { tcp?: boolean; version?: string } = {},
): object {
  const { tcp, version, ...pod } = options;
  const command = ['ambit', 'echo', '--port', '8080', ...(tcp ? ['--tcp-port', '9000'] : [])];
  return podDoc(name, {
    ...pod,
    command: [...command, '--version', version ?? name],
    ports: tcp ? { http: 8080, tcp: 9000 } : { http: 8080 },
  });
}

/** A Deployment of `replicas` identical pods labelled app: `name`. */
export function deploymentDoc(name: string, replicas: number, options: PodOptions = {}): object {
  const labels = { app: name, ...options.labels };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: objectMeta(name, { namespace: options.namespace }),
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: podSpec(options) },
    },
  };
}

/**
 * A Service selecting app: `app` (default: its name), port 80 to the pods' port named http; `spec` adds to
 * or replaces fields of that spec (type, ports, clusterIP, sessionAffinity, ...).
 */
export function serviceDoc(
  name: string,
  options: { namespace?: string; app?: string; spec?: Record<string, unknown> } = {},
): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(name, { namespace: options.namespace }),
    spec: {
      selector: { app: options.app ?? name },
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
      ...options.spec,
    },
  };
}

/**
 * An AuthorizationPolicy for the workloads labelled app: `app` (the namespace's, without), letting in (or,
 * with action DENY, keeping out) the given principals (`cluster.local/ns/<ns>/sa/<sa>`).
 */
export function authorizationPolicyDoc(
  name: string,
  options: { namespace: string; app?: string; action?: 'ALLOW' | 'DENY'; principals: readonly string[] },
): object {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace: options.namespace },
    spec: {
      ...(options.app ? { selector: { matchLabels: { app: options.app } } } : {}),
      ...(options.action ? { action: options.action } : {}),
      rules: [{ from: [{ source: { principals: [...options.principals] } }] }],
    },
  };
}

/** A namespace-wide PeerAuthentication. */
export function peerAuthenticationDoc(
  name: string,
  options: { namespace: string; mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE' },
): object {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name, namespace: options.namespace },
    spec: { mtls: { mode: options.mode } },
  };
}

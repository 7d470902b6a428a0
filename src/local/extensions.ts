/**
 * The seam through which the mesh joins the local cluster. An extension is a module exporting
 * `extension: ClusterExtension`; the modules named in DEFAULT_EXTENSION_MODULES are used by every
 * `ambit local up`, recorded in the cluster's state, and loaded again by the supervisor.
 *
 * Order of events at `up`: topology created -> `prepare` (every extension, in order) -> `systemProcesses`
 * collected and handed to the supervisor with the pods -> the supervisor starts the system processes,
 * then, for each pod, awaits every `beforePodStart` and only then starts the pod's process. While the
 * cluster runs, every change of a process's state or readiness is passed to `processChanged`, and `ambit
 * local label` changes labels through the supervisor, which calls `namespaceRelabeled` (for a namespace),
 * then `podRelabeled` for each pod concerned; when it stops, it calls `stop`.
 */
import { pathToFileURL } from 'node:url';
import { AmbitError, errorMessage } from '../core/errors.ts';
import type { PodTemplate } from './pod-runtime.ts';
import type { StatePaths } from './state.ts';
import type { PodMesh, ProcessStatus } from './supervisor/status.ts';
import type { ClusterState, NamespaceRecord, PodRecord, ProcessSpec } from './types.ts';

export interface ExtensionContext {
  /** In the supervisor, always the latest record: labels change while the cluster runs. */
  cluster: ClusterState;
  /** Where to keep files: `paths.dir` is removed by `down` (put secrets in a 0700 subdirectory). */
  paths: StatePaths;
  /** In the supervisor only: records what the mesh made of a pod, for `ambit local status`. */
  reportMesh?: ((podUid: string, mesh: PodMesh) => void) | undefined;
  /** In the supervisor only: adds pods to the running cluster and removes them (see supervisor/pods.ts). */
  pods?: PodRuntime | undefined;
}

/** Pods made while the cluster runs (e.g. a waypoint for a Gateway applied after `up`). */
export interface PodRuntime {
  /** Places the pod, wires its network and starts it (after the start gates); resolves once recorded. */
  add(template: PodTemplate): Promise<PodRecord>;
  /**
   * As `add`, for a pod whose whole record its runtime builds: `place` gets the latest record (in turn with
   * every other change, so the address it picks is free) and returns the new pod's.
   */
  addPlaced(place: (cluster: ClusterState) => PodRecord): Promise<PodRecord>;
  /**
   * Takes the pod out of its Services (extensions' `podTerminating`, and the record), waits until the
   * extensions know that to have reached every node (`podDraining`), then `drainMs` more for what is in flight
   * (Kubernetes users add a preStop sleep for the same reason), then lets the extensions go of it, stops it
   * and deletes its network; an unknown uid is fine.
   */
  remove(uid: string, options?: { drainMs?: number }): Promise<void>;
  /** Changes the rest of the record (Services, namespaces), in turn with the pods' changes. */
  update(change: (cluster: ClusterState) => ClusterState): Promise<void>;
}

export interface ClusterExtension {
  name: string;
  /** At `up`, in the `ambit` process, once the namespaces exist (e.g. mint node credentials). */
  prepare?(context: ExtensionContext): Promise<void>;
  /**
   * Processes to supervise besides the pods (the control plane in the first node's namespace, a ztunnel in
   * each node's); started before any pod, restarted like pods. Build them with `systemProcess`.
   */
  systemProcesses?(context: ExtensionContext): ProcessSpec[];
  /**
   * In the supervisor, before the pod's process first starts (not on restarts): e.g. enroll the pod with
   * its node's ztunnel and wait for the ACK. A rejection is retried with backoff; the pod waits meanwhile.
   */
  beforePodStart?(pod: PodRecord, context: ExtensionContext): Promise<void>;
  /**
   * In the supervisor, after the labels of the pod or of its namespace changed, whatever the pod's state
   * (running, waiting for its gate, ended): e.g. enroll or unenroll it without restarting it. A rejection
   * is reported to whoever changed the labels; the labels stay changed.
   */
  podRelabeled?(pod: PodRecord, context: ExtensionContext): Promise<void>;
  /**
   * In the supervisor, after the labels of a namespace changed, before `podRelabeled` is called for its pods
   * (e.g. tell the control plane). A rejection is reported to whoever changed the labels.
   */
  namespaceRelabeled?(namespace: NamespaceRecord, context: ExtensionContext): Promise<void>;
  /**
   * In the supervisor, each time a process (pod or system) changed state, readiness or pid: started, ready,
   * crashed, restarted, ended (e.g. report a pod to the control plane, resync a restarted component). Calls
   * come in order and are not awaited; a rejection is logged.
   */
  processChanged?(process: ProcessStatus, context: ExtensionContext): Promise<void>;
  /**
   * In the supervisor, when a pod is being deleted from the running cluster, first: no new traffic should
   * reach it (e.g. the control plane drops its endpoints), while it still answers for the drain period.
   * A rejection is logged; the pod goes anyway.
   */
  podTerminating?(pod: PodRecord, context: ExtensionContext): Promise<void>;
  /**
   * In the supervisor, after `podTerminating` and outside the runtime's queue (other pods come and go
   * meanwhile): resolves once no node sends the pod new traffic any more, or at a bound of the extension's
   * own; the drain period starts after it. A rejection is logged; the pod goes anyway.
   */
  podDraining?(pod: PodRecord, context: ExtensionContext): Promise<void>;
  /**
   * In the supervisor, when a pod is being deleted from the running cluster, after the drain period and
   * before its process is stopped (e.g. unenroll it). A rejection is logged; the pod goes anyway.
   */
  podRemoved?(pod: PodRecord, context: ExtensionContext): Promise<void>;
  /** In the supervisor, once every process has stopped (cluster going down): let go of connections. */
  stop?(context: ExtensionContext): Promise<void>;
}

/**
 * One instance of an extension's state per cluster context (the supervisor has one context), made on first
 * use; `drop` forgets it (at `stop`) and returns it, if there was one.
 */
export function perContext<T>(make: (context: ExtensionContext) => T): {
  get(context: ExtensionContext): T;
  drop(context: ExtensionContext): T | undefined;
} {
  const instances = new WeakMap<ExtensionContext, T>();
  return {
    get(context) {
      let found = instances.get(context);
      if (found === undefined) {
        found = make(context);
        instances.set(context, found);
      }
      return found;
    },
    drop(context) {
      const found = instances.get(context);
      instances.delete(context);
      return found;
    },
  };
}

/** Extension modules (paths relative to this file, or URLs) that every local cluster uses. */
export const DEFAULT_EXTENSION_MODULES: readonly string[] = [
  // Cluster DNS and kube-proxy in every node: the network of any Kubernetes cluster, mesh or not.
  './services/extension.ts',
  // First: a pod is known to the control plane (its node may obtain its identity) before it is enrolled.
  './mesh/control-plane.ts',
  './mesh/enrollment.ts',
  // Waypoint pods for the Gateways of class istio-waypoint; their pods pass the two gates above.
  './mesh/waypoints.ts',
  // The core objects applied or deleted while the cluster runs (after the mesh: its gates see new pods).
  './live/extension.ts',
];

/** The extension that opens the cluster file's `spec.portMappings` on the host's loopback. */
export const PORT_MAPPINGS_EXTENSION_URL = new URL('./port-mappings.ts', import.meta.url).href;

/** The extension that runs a Prometheus in the cluster (`up --prometheus`, or the Cluster's `spec.prometheus`). */
export const PROMETHEUS_EXTENSION_URL = new URL('./prometheus/extension.ts', import.meta.url).href;

/** Absolute URLs of the default modules, as recorded in a cluster's state. */
export function defaultExtensionUrls(): string[] {
  return DEFAULT_EXTENSION_MODULES.map((module) => new URL(module, import.meta.url).href);
}

export function extensionUrl(pathOrUrl: string): string {
  return /^[a-z]+:/.test(pathOrUrl) ? pathOrUrl : pathToFileURL(pathOrUrl).href;
}

export async function loadExtensions(urls: readonly string[]): Promise<ClusterExtension[]> {
  const extensions: ClusterExtension[] = [];
  for (const url of urls) {
    let module: { extension?: ClusterExtension };
    try {
      module = (await import(url)) as { extension?: ClusterExtension };
    } catch (error) {
      throw new AmbitError('EXTENSION', `cannot load cluster extension ${url}: ${errorMessage(error)}`);
    }
    if (!module.extension || typeof module.extension.name !== 'string') {
      throw new AmbitError('EXTENSION', `${url} does not export \`extension: ClusterExtension\``);
    }
    extensions.push(module.extension);
  }
  return extensions;
}

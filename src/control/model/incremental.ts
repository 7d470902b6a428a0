/**
 * The mesh kept up to date change by change. A change of the config (resources, trust, EndpointSlices) is a
 * full build (`buildMesh`, memoized); a change of pods only is applied to the indexes the last build left
 * (pods by namespace/label and IP, Services by selector label and slice address) and recomputes only the
 * workloads and Services it touches, with the builders `buildMesh` uses: everything else (policies
 * included) stays the very object it was, and the change is told downstream by key (`MeshChanges`), so that
 * a pod's change costs the control plane in proportion to that change, not to the mesh. Unit tables hold
 * the result equal to a full build for random change sequences (`control-incremental-mesh.test.ts`).
 */
import { GATEWAY_NAME_LABEL } from '../../core/labels.ts';
import type { Service, Workload } from '../../core/model/index.ts';
import { labelsMatch } from '../../core/policy/selector.ts';
import type { PodRecord } from '../pods/pod-source.ts';
import type { SliceEndpoint } from '../pods/slice-endpoints.ts';
import type { ServiceView } from './core-view.ts';
import {
  buildMesh,
  byUid,
  derivedServices,
  type Mesh,
  type MeshContext,
  type MeshInputs,
  MeshMemo,
  meshContext,
  serviceEntries,
  serviceKey,
  viewService,
  workloadOf,
} from './mesh.ts';
import { dropSorted, PodIndex, putSorted, uidOf } from './pod-index.ts';
import { entryPodFilter } from './service-entries.ts';

/**
 * What changed from the previous mesh, by key: workloads by uid, Services by `<namespace>/<name>`, each
 * with its new object or undefined once gone. Everything else of the mesh is the previous mesh's object
 * unless the config changed (then `config` is true).
 */
export interface MeshChanges {
  workloads: ReadonlyMap<string, Workload | undefined>;
  services: ReadonlyMap<string, Service | undefined>;
  /** The nodes whose workloads changed (each changed workload's node, before and after). */
  nodes: ReadonlySet<string>;
  config: boolean;
}

export interface MeshUpdate {
  mesh: Mesh;
  /** Undefined for the first build (everything is new). */
  changes: MeshChanges | undefined;
}

/** What a full build leaves for the pod changes after it. */
interface State {
  inputs: MeshInputs;
  /** The slices' entries as they were (the source updates its map in place). */
  slices: Map<string, readonly SliceEndpoint[]>;
  context: MeshContext;
  mesh: Mesh;
  pods: Map<string, PodRecord>;
  /** The pods, workloads and Services in the mesh's order (uid, namespace/name), updated in place. */
  sortedPods: PodRecord[];
  workloads: Workload[];
  services: Service[];
  servicesByKey: Map<string, Service>;
  podIndex: PodIndex;
  /** namespace -> `key=value` of a selector label -> the Service views whose selector has it. */
  selecting: Map<string, Map<string, ServiceView[]>>;
  /** IP -> the views of the Services whose EndpointSlices have an endpoint there. */
  slicedAt: Map<string, ServiceView[]>;
  /** Whether a pod can change a ServiceEntry's Services (selected by one, or at one's endpoint address). */
  entryPod: (pod: PodRecord) => boolean;
}

const NO_CHANGES: MeshChanges = {
  workloads: new Map(),
  services: new Map(),
  nodes: new Set(),
  config: false,
};

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameSlices(
  held: ReadonlyMap<string, readonly SliceEndpoint[]>,
  now: ReadonlyMap<string, readonly SliceEndpoint[]> | undefined,
): boolean {
  if ((now?.size ?? 0) !== held.size) return false;
  for (const [key, endpoints] of now ?? []) if (held.get(key) !== endpoints) return false;
  return true;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Changes of `after` from `before` by identity, keyed by `keyOf`. */
function changedByIdentity<T>(
  before: readonly T[],
  after: readonly T[],
  keyOf: (item: T) => string,
): Map<string, T | undefined> {
  const held = new Map(before.map((item) => [keyOf(item), item]));
  const changes = new Map<string, T | undefined>();
  for (const item of after) {
    const key = keyOf(item);
    if (held.get(key) !== item) changes.set(key, item);
    held.delete(key);
  }
  for (const key of held.keys()) changes.set(key, undefined);
  return changes;
}

export class IncrementalMesh {
  private readonly memo = new MeshMemo();
  private state: State | undefined;

  /** The mesh of `inputs`, and what changed since the last update. */
  update(inputs: MeshInputs): MeshUpdate {
    const state = this.state;
    try {
      if (state !== undefined && this.sameConfig(state, inputs)) return this.applyPods(state, inputs.pods);
      return this.rebuild(inputs);
    } catch (error) {
      // Indexes left half-updated would drift from the pods: the next update builds everything again.
      this.state = undefined;
      throw error;
    }
  }

  private sameConfig(state: State, inputs: MeshInputs): boolean {
    const before = state.inputs;
    return (
      inputs.trustDomain === before.trustDomain &&
      sameItems(inputs.resources, before.resources) &&
      (inputs.trustBundle === before.trustBundle ||
        JSON.stringify(inputs.trustBundle) === JSON.stringify(before.trustBundle)) &&
      sameSlices(state.slices, inputs.sliceEndpoints)
    );
  }

  private rebuild(inputs: MeshInputs): MeshUpdate {
    const previous = this.state?.mesh;
    const mesh = buildMesh(inputs, this.memo);
    const context = meshContext(inputs);
    const selecting = new Map<string, Map<string, ServiceView[]>>();
    const slicedAt = new Map<string, ServiceView[]>();
    for (const view of context.views) {
      const selector = Object.entries(view.selector ?? {});
      if (selector.length > 0) {
        let labels = selecting.get(view.namespace);
        if (!labels) {
          labels = new Map();
          selecting.set(view.namespace, labels);
        }
        for (const [key, value] of selector) push(labels, `${key}=${value}`, view);
      }
      for (const endpoint of inputs.sliceEndpoints?.get(serviceKey(view)) ?? [])
        push(slicedAt, endpoint.ip, view);
    }
    const sortedPods = [...inputs.pods].sort(byUid);
    this.state = {
      inputs,
      slices: new Map(inputs.sliceEndpoints ?? []),
      context,
      mesh,
      pods: new Map(sortedPods.map((pod) => [pod.uid, pod])),
      sortedPods,
      workloads: [...mesh.workloads],
      services: [...mesh.services],
      servicesByKey: new Map(mesh.services.map((service) => [serviceKey(service), service])),
      podIndex: new PodIndex(sortedPods),
      selecting,
      slicedAt,
      entryPod: entryPodFilter(serviceEntries(context.resources)),
    };
    if (previous === undefined) return { mesh, changes: undefined };
    const workloads = changedByIdentity(previous.workloads, mesh.workloads, (workload) => workload.uid);
    const nodes = new Set<string>();
    for (const workload of previous.workloads) if (workloads.has(workload.uid)) nodes.add(workload.node);
    for (const workload of workloads.values()) if (workload) nodes.add(workload.node);
    return {
      mesh,
      changes: {
        workloads,
        services: changedByIdentity(previous.services, mesh.services, serviceKey),
        nodes,
        config: true,
      },
    };
  }

  private applyPods(state: State, pods: readonly PodRecord[]): MeshUpdate {
    const changed: [PodRecord | undefined, PodRecord | undefined][] = [];
    let kept = 0;
    for (const pod of pods) {
      const before = state.pods.get(pod.uid);
      if (before === undefined) changed.push([undefined, pod]);
      else {
        kept++;
        if (before !== pod) changed.push([before, pod]);
      }
    }
    if (kept < state.pods.size) {
      const present = new Set(pods.map((pod) => pod.uid));
      for (const [uid, pod] of state.pods) if (!present.has(uid)) changed.push([pod, undefined]);
    }
    if (changed.length === 0) return { mesh: state.mesh, changes: NO_CHANGES };
    const { context, podIndex } = state;
    const workloads = new Map<string, Workload | undefined>();
    const nodes = new Set<string>();
    const touched = new Set<ServiceView>();
    let derived = false;
    for (const [before, after] of changed) {
      for (const pod of [before, after]) {
        if (pod === undefined) continue;
        nodes.add(pod.node);
        for (const [key, value] of Object.entries(pod.labels))
          for (const view of state.selecting.get(pod.namespace)?.get(`${key}=${value}`) ?? [])
            if (labelsMatch(view.selector!, pod.labels)) touched.add(view);
        for (const ip of pod.ips) for (const view of state.slicedAt.get(ip) ?? []) touched.add(view);
        if (pod.labels[GATEWAY_NAME_LABEL] !== undefined || state.entryPod(pod)) derived = true;
      }
      if (before) {
        podIndex.remove(before);
        state.pods.delete(before.uid);
        dropSorted(state.sortedPods, before.uid, uidOf);
      }
      if (after) {
        podIndex.add(after);
        state.pods.set(after.uid, after);
        putSorted(state.sortedPods, after, uidOf);
        const workload = workloadOf(context, after, this.memo);
        putSorted(state.workloads, workload, uidOf);
        workloads.set(after.uid, workload);
      } else {
        const uid = before!.uid;
        this.memo.workloads.delete(uid);
        dropSorted(state.workloads, uid, uidOf);
        workloads.set(uid, undefined);
      }
    }
    const services = new Map<string, Service | undefined>();
    const put = (service: Service) => {
      const key = serviceKey(service);
      const held = state.servicesByKey.get(key);
      if (held === service) return;
      state.servicesByKey.set(key, service);
      putSorted(state.services, service, serviceKey);
      services.set(key, service);
    };
    for (const view of touched) put(viewService(context, view, podIndex, this.memo));
    if (derived) {
      for (const service of derivedServices(context, podIndex, state.sortedPods)) {
        // Made anew at every call: the held object stays while it is equal, so nothing downstream redoes it.
        const held = state.servicesByKey.get(serviceKey(service));
        if (held === undefined || JSON.stringify(held) !== JSON.stringify(service)) put(service);
      }
    }
    state.mesh = { ...state.mesh, workloads: [...state.workloads], services: [...state.services] };
    return { mesh: state.mesh, changes: { workloads, services, nodes, config: false } };
  }
}

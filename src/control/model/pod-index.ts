/**
 * Pods by namespace and label, built once per mesh: selecting a Service's pods then costs the pods that carry
 * one of its selector's labels, not every pod of the mesh for every Service.
 */
import { labelsMatch } from '../../core/policy/selector.ts';
import type { PodRecord } from '../pods/pod-source.ts';

const NONE: readonly PodRecord[] = [];

export class PodIndex {
  /** namespace -> label key -> label value -> pods, each list in the order of the pods given. */
  private readonly byLabel = new Map<string, Map<string, Map<string, PodRecord[]>>>();
  private readonly pods: readonly PodRecord[];
  /** IP -> pod, built on first use (only Services without a selector ask). */
  private byIp: Map<string, PodRecord> | undefined;

  constructor(pods: readonly PodRecord[]) {
    this.pods = pods;
    for (const pod of pods) {
      let keys = this.byLabel.get(pod.namespace);
      if (!keys) {
        keys = new Map();
        this.byLabel.set(pod.namespace, keys);
      }
      for (const [key, value] of Object.entries(pod.labels)) {
        let values = keys.get(key);
        if (!values) {
          values = new Map();
          keys.set(key, values);
        }
        const list = values.get(value);
        if (list) list.push(pod);
        else values.set(value, [pod]);
      }
    }
  }

  /** The pods of `namespace` whose labels include all of `selector`'s (none for an empty selector). */
  select(namespace: string, selector: Readonly<Record<string, string>>): readonly PodRecord[] {
    const keys = this.byLabel.get(namespace);
    const entries = Object.entries(selector);
    if (!keys || entries.length === 0) return NONE;
    // The rarest of the selector's labels gives the fewest candidates to check against the whole selector.
    let candidates: readonly PodRecord[] | undefined;
    for (const [key, value] of entries) {
      const list = keys.get(key)?.get(value) ?? NONE;
      if (!candidates || list.length < candidates.length) candidates = list;
    }
    if (entries.length === 1) return candidates!;
    return candidates!.filter((pod) => labelsMatch(selector, pod.labels));
  }

  /** The pod with this IP, if any. */
  atIp(ip: string): PodRecord | undefined {
    if (this.byIp === undefined) {
      this.byIp = new Map();
      for (const pod of this.pods) for (const address of pod.ips) this.byIp.set(address, pod);
    }
    return this.byIp.get(ip);
  }
}

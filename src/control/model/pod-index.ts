/**
 * Pods by namespace and label, and by IP: selecting a Service's pods then costs the pods that carry one of
 * its selector's labels, not every pod of the mesh for every Service. Built once per full build and then kept
 * up to date pod by pod (`add`, `remove`) by the incremental model (`model.ts`). Every list is in uid order,
 * whatever order the pods came in, so that a Service's endpoints are the same however the index was reached.
 */
import { labelsMatch } from '../../core/policy/selector.ts';
import type { PodRecord } from '../pods/pod-source.ts';

const NONE: readonly PodRecord[] = [];

/** Where the item of `key` is, or would go, in `list` (in the order of `keyOf`). */
function position<T>(list: readonly T[], key: string, keyOf: (item: T) => string): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (keyOf(list[middle]!) < key) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Puts `item` in `list` (in the order of `keyOf`), in place of the item of its key if there is one. */
export function putSorted<T>(list: T[], item: T, keyOf: (item: T) => string): void {
  const key = keyOf(item);
  const at = position(list, key, keyOf);
  if (at < list.length && keyOf(list[at]!) === key) list[at] = item;
  else list.splice(at, 0, item);
}

/** Takes the item of `key` out of `list` (in the order of `keyOf`), if it is there. */
export function dropSorted<T>(list: T[], key: string, keyOf: (item: T) => string): void {
  const at = position(list, key, keyOf);
  if (at < list.length && keyOf(list[at]!) === key) list.splice(at, 1);
}

export const uidOf = (item: { uid: string }) => item.uid;

function listIn<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (list === undefined) {
    list = [];
    map.set(key, list);
  }
  return list;
}

export class PodIndex {
  /** namespace -> label key -> label value -> pods. */
  private readonly byLabel = new Map<string, Map<string, Map<string, PodRecord[]>>>();
  /** IP -> the pods with it (two only while one replaces the other). */
  private readonly byIp = new Map<string, PodRecord[]>();

  constructor(pods: readonly PodRecord[] = NONE) {
    // In uid order, each list is appended to: no insertion in the middle of a list.
    for (const pod of [...pods].sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0))) this.add(pod);
  }

  add(pod: PodRecord): void {
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
      putSorted(listIn(values, value), pod, uidOf);
    }
    for (const ip of pod.ips) putSorted(listIn(this.byIp, ip), pod, uidOf);
  }

  /** Takes out `pod` (the record that was added). */
  remove(pod: PodRecord): void {
    const keys = this.byLabel.get(pod.namespace);
    for (const [key, value] of Object.entries(pod.labels)) {
      const values = keys?.get(key);
      const list = values?.get(value);
      if (list === undefined) continue;
      dropSorted(list, pod.uid, uidOf);
      if (list.length === 0) values!.delete(value);
    }
    for (const ip of pod.ips) {
      const list = this.byIp.get(ip);
      if (list === undefined) continue;
      dropSorted(list, pod.uid, uidOf);
      if (list.length === 0) this.byIp.delete(ip);
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
    // A copy: the index's own lists change as pods come and go.
    if (entries.length === 1) return candidates!.slice();
    return candidates!.filter((pod) => labelsMatch(selector, pod.labels));
  }

  /** The pod with this IP, if any (of two, the one of the greater uid). */
  atIp(ip: string): PodRecord | undefined {
    return this.byIp.get(ip)?.at(-1);
  }
}

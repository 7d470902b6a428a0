/**
 * Where the control plane learns which pods run, on which node, with which IPs. Locally the runtime reports
 * them over the API socket (`ReportedPods`); a Kubernetes variant would watch Pods on the API server and
 * implement the same `PodSource`. Reported pods are persisted so that a restarted control plane keeps
 * serving the mesh it knew until the runtime resyncs.
 */
import { isIP } from 'node:net';
import { Field } from '../../core/config/field.ts';
import { formatIssue, IssueCollector } from '../../core/config/issues.ts';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../../core/config/resource.ts';
import type { PodPort } from '../../core/control-api/types.ts';
import { AmbitError } from '../../core/errors.ts';
import type { StateLock } from '../state/lock.ts';
import { SharedStateFile } from '../state/shared-file.ts';

/** A pod with every default filled in. */
export interface PodRecord {
  uid: string;
  name: string;
  namespace: string;
  node: string;
  ips: string[];
  serviceAccount: string;
  labels: Record<string, string>;
  ready: boolean;
  ports: PodPort[];
}

export interface PodSource {
  list(): readonly PodRecord[];
  /** Called after every change; the control plane debounces. */
  onChange(listener: () => void): void;
}

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Validates a pod report (untrusted JSON from the socket); throws BAD_REQUEST naming the field. */
export function parsePodInfo(value: unknown): PodRecord {
  const collector = new IssueCollector({ file: 'pod report', document: 1 });
  const pod = new Field(value, '', collector);
  const record = readPod(pod);
  const errors = collector.issues.filter((issue) => issue.severity === 'error');
  if (errors.length > 0 || !record) {
    throw new AmbitError('BAD_REQUEST', `invalid pod report: ${errors.map(formatIssue).join('; ')}`);
  }
  return record;
}

function readPod(pod: Field): PodRecord | undefined {
  if (
    !pod.object(['uid', 'name', 'namespace', 'node', 'ips', 'serviceAccount', 'labels', 'ready', 'ports'], {
      required: true,
    })
  ) {
    return undefined;
  }
  const name = pod
    .child('name')
    .string({ required: true, pattern: DNS_SUBDOMAIN, patternHint: 'a DNS-1123 name' });
  const namespace = pod
    .child('namespace')
    .string({ required: true, pattern: DNS_LABEL, patternHint: 'a DNS-1123 label' });
  const node = pod.child('node').string({ required: true, nonEmpty: true });
  const ips =
    pod.child('ips').list(
      (item) => {
        const ip = item.string({ required: true });
        return ip !== undefined && isIP(ip) === 0
          ? item.error(`invalid IP address ${JSON.stringify(ip)}`)
          : ip;
      },
      { required: true, nonEmpty: true },
    ) ?? [];
  const serviceAccount =
    pod.child('serviceAccount').string({ pattern: DNS_SUBDOMAIN, patternHint: 'a DNS-1123 name' }) ??
    'default';
  const labels = pod.child('labels').labels() ?? {};
  const ports =
    pod.child('ports').list((item) => {
      const port = item.object(['name', 'containerPort', 'protocol'], { required: true });
      if (!port) return undefined;
      const containerPort = port.child('containerPort').port({ required: true });
      if (containerPort === undefined) return undefined;
      return {
        name: port.child('name').string(),
        containerPort,
        protocol: port.child('protocol').oneOf(['TCP', 'UDP'] as const),
      };
    }) ?? [];
  if (name === undefined || namespace === undefined || node === undefined) return undefined;
  return {
    uid: pod.child('uid').string({ nonEmpty: true }) ?? podKey(namespace, name),
    name,
    namespace,
    node,
    ips,
    serviceAccount,
    labels,
    ready: pod.child('ready').boolean() ?? true,
    ports,
  };
}

/**
 * Pods reported by a runtime, persisted in `file` (JSON) after each change. Given the state directory's lock,
 * the file is shared with other control-plane replicas as the config store's is: changes are made under the
 * lock on top of the latest file, and `refresh` takes in another replica's.
 */
export class ReportedPods implements PodSource {
  private readonly pods = new Map<string, PodRecord>();
  private readonly listeners: (() => void)[] = [];
  private readonly file: SharedStateFile;

  constructor(file: string, lock?: StateLock) {
    this.file = new SharedStateFile(file, lock);
    this.load();
  }

  list(): readonly PodRecord[] {
    return [...this.pods.values()];
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Takes in what another replica wrote since; true (and the listeners told) when the file had changed. */
  refresh(): boolean {
    if (!this.file.changedOnDisk()) return false;
    this.load();
    this.notify();
    return true;
  }

  upsert(pod: PodRecord): void {
    const key = podKey(pod.namespace, pod.name);
    this.exclusive(() => {
      if (JSON.stringify(this.pods.get(key)) === JSON.stringify(pod)) return false;
      this.pods.set(key, pod);
      return true;
    });
  }

  remove(namespace: string, name: string): boolean {
    return this.exclusive(() => this.pods.delete(podKey(namespace, name)));
  }

  /** Makes `pods` the complete set of pods on `node`. */
  replaceNode(node: string, pods: readonly PodRecord[]): void {
    const stray = pods.find((pod) => pod.node !== node);
    if (stray)
      throw new AmbitError(
        'BAD_REQUEST',
        `pod ${stray.namespace}/${stray.name} is on node ${stray.node}, not ${node}`,
      );
    this.exclusive(() => {
      for (const [key, pod] of this.pods) if (pod.node === node) this.pods.delete(key);
      for (const pod of pods) this.pods.set(podKey(pod.namespace, pod.name), pod);
      return true;
    });
  }

  /** Runs `change` (true when it changed something) as the only writer, on the latest pods, and saves it. */
  private exclusive(change: () => boolean): boolean {
    let refreshed = false;
    const changed = this.file.exclusive(
      () => {
        this.load();
        refreshed = true;
      },
      () => {
        const changed = change();
        if (changed) this.file.save(JSON.stringify([...this.pods.values()]), 0o600);
        return changed;
      },
    );
    if (changed || refreshed) this.notify();
    return changed;
  }

  private load(): void {
    this.pods.clear();
    for (const pod of this.file.readJson<PodRecord[]>() ?? [])
      this.pods.set(podKey(pod.namespace, pod.name), pod);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

/**
 * Where the control plane learns which pods run, on which node, with which IPs. Locally the runtime reports
 * them over the API socket (`ReportedPods`); on Kubernetes, Pods are watched on the API server
 * (`KubernetesPods`, kube-pods.ts) behind the same `PodSource`. Reported pods are persisted so that a
 * restarted control plane keeps serving the mesh it knew until the runtime resyncs: at most
 * `PERSIST_DELAY_MS` after a change, so that a burst of reports is written once and no report waits for the
 * disk. What a crash loses (the last moments of reports) comes back with the runtime's resync, which
 * a restarted control plane always gets (the local runtime resyncs every node when it sees the control plane
 * ready again).
 */
import { isIP } from 'node:net';
import { Field } from '../../core/config/field.ts';
import { formatIssue, IssueCollector } from '../../core/config/issues.ts';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../../core/config/resource.ts';
import type { PodPort } from '../../core/control-api/types.ts';
import { AmbitError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { AppendLog } from '../state/append-log.ts';
import type { StateLock } from '../state/lock.ts';
import { SharedStateFile } from '../state/shared-file.ts';

/** How long a change to the reported pods may take to reach the disk. */
export const PERSIST_DELAY_MS = 500;

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

/** One change in the pods' log: a pod as it now is, or the key of one removed. */
type PodLogEntry = { set: PodRecord } | { remove: string };

/** The log is folded into the file once it holds this many entries, or as many as there are pods if more. */
const MIN_COMPACT_ENTRIES = 1000;

/**
 * Pods reported by a runtime, persisted shortly after each change (`PERSIST_DELAY_MS`), so a burst of reports
 * is written once and no report waits for the disk. What changed is appended to a log beside `file`
 * (`AppendLog`), so a change costs the disk what it changed; the log is folded into `file` once it is as long
 * as the pods are many (at least `MIN_COMPACT_ENTRIES`), so reading both stays proportional to the mesh. A
 * pod reported again unchanged stays the same object, so the model reuses what it built from it
 * (`model/memo.ts`). Given the state directory's lock, both files are shared with other control-plane
 * replicas as the config store's file is: this replica's changes since its last write are written under the
 * lock after what the others wrote, and `refresh` takes in theirs (keeping this one's unwritten changes on
 * top), reading only the log's new lines unless it was folded since.
 */
export class ReportedPods implements PodSource {
  private readonly pods = new Map<string, PodRecord>();
  private readonly listeners: (() => void)[] = [];
  private readonly file: SharedStateFile;
  private readonly changes: AppendLog<PodLogEntry>;
  private readonly lock: StateLock | undefined;
  private readonly log: Logger;
  /** Changes not written yet, by pod key: the pod as it now is, or null for one removed. */
  private readonly unwritten = new Map<string, PodRecord | null>();
  private persistTimer: NodeJS.Timeout | undefined;

  constructor(file: string, lock?: StateLock, log: Logger = createLogger('pods')) {
    this.file = new SharedStateFile(file, lock);
    this.changes = new AppendLog(podLogPath(file), 0o600);
    this.lock = lock;
    this.log = log;
    this.load();
  }

  /** The files another replica's writes change (to watch). */
  get files(): string[] {
    return [this.file.path, this.changes.path];
  }

  list(): readonly PodRecord[] {
    return [...this.pods.values()];
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Takes in what another replica wrote since; true (and the listeners told) when it had written anything. */
  refresh(): boolean {
    if (!this.catchUp()) return false;
    this.notify();
    return true;
  }

  upsert(pod: PodRecord): void {
    const key = podKey(pod.namespace, pod.name);
    if (samePod(this.pods.get(key), pod)) return;
    this.set(key, pod);
    this.changed();
  }

  remove(namespace: string, name: string): boolean {
    const key = podKey(namespace, name);
    if (!this.pods.has(key)) return false;
    this.set(key, null);
    this.changed();
    return true;
  }

  /** Makes `pods` the complete set of pods on `node`. */
  replaceNode(node: string, pods: readonly PodRecord[]): void {
    const stray = pods.find((pod) => pod.node !== node);
    if (stray)
      throw new AmbitError(
        'BAD_REQUEST',
        `pod ${stray.namespace}/${stray.name} is on node ${stray.node}, not ${node}`,
      );
    const reported = new Map(pods.map((pod) => [podKey(pod.namespace, pod.name), pod]));
    let changed = false;
    for (const [key, pod] of this.pods)
      if (pod.node === node && !reported.has(key)) {
        this.set(key, null);
        changed = true;
      }
    for (const [key, pod] of reported)
      if (!samePod(this.pods.get(key), pod)) {
        this.set(key, pod);
        changed = true;
      }
    if (changed) this.changed();
  }

  /** Writes what is not on disk yet now (at shutdown). */
  flush(): void {
    if (this.persistTimer === undefined) return;
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    this.persist();
  }

  private set(key: string, pod: PodRecord | null): void {
    if (pod === null) this.pods.delete(key);
    else this.pods.set(key, pod);
    this.unwritten.set(key, pod);
  }

  private changed(): void {
    if (this.persistTimer === undefined) {
      this.persistTimer = setTimeout(() => {
        this.persistTimer = undefined;
        this.persist();
      }, PERSIST_DELAY_MS);
      // Shutdown flushes; a crash is what the resync is for.
      this.persistTimer.unref();
    }
    this.notify();
  }

  private persist(): void {
    try {
      // As the only writer among replicas, after what the others wrote (taken in first).
      const run = <T>(work: () => T) => (this.lock ? this.lock.run(work) : work());
      const caughtUp = run(() => {
        const caughtUp = this.lock ? this.catchUp() : false;
        if (this.changes.entries + this.unwritten.size >= Math.max(MIN_COMPACT_ENTRIES, this.pods.size)) {
          this.file.save(JSON.stringify([...this.pods.values()]), 0o600);
          this.changes.replace();
        } else {
          this.changes.append(
            [...this.unwritten].map(([key, pod]) => (pod === null ? { remove: key } : { set: pod })),
          );
        }
        this.unwritten.clear();
        return caughtUp;
      });
      if (caughtUp) this.notify();
    } catch (error) {
      this.writeFailed(error as Error);
    }
  }

  private writeFailed(error: Error): void {
    // The pods stay served from memory; the next change tries the disk again.
    this.log.error('cannot persist the reported pods', { file: this.file.path, error: error.message });
  }

  /**
   * Takes in what another replica wrote since this one last read: the log's new lines, or both files again
   * when the file was replaced or the log folded into it. True when anything was taken in.
   */
  private catchUp(): boolean {
    if (!this.file.changedOnDisk()) {
      const read = this.changes.readNew();
      if (!read.reset) {
        for (const entry of read.entries) this.applyEntry(entry);
        return read.entries.length > 0;
      }
    }
    this.load();
    return true;
  }

  /** `entry` applied to the pods, unless this replica changed that pod since (its change stays on top). */
  private applyEntry(entry: PodLogEntry): void {
    const pods = this.pods;
    const key = 'remove' in entry ? entry.remove : podKey(entry.set.namespace, entry.set.name);
    if (this.unwritten.has(key)) return;
    if ('remove' in entry) {
      pods.delete(key);
      return;
    }
    const known = pods.get(key);
    if (!samePod(known, entry.set)) pods.set(key, entry.set);
  }

  /**
   * The file's pods and the log's changes, with this replica's unwritten changes on top; unchanged pods stay
   * the same objects.
   */
  private load(): void {
    const before = new Map(this.pods);
    this.pods.clear();
    const stored = this.file.readJson<PodRecord[]>() ?? [];
    const loaded = new Map<string, PodRecord>();
    for (const pod of stored) loaded.set(podKey(pod.namespace, pod.name), pod);
    for (const entry of this.changes.readAll()) {
      if ('remove' in entry) loaded.delete(entry.remove);
      else loaded.set(podKey(entry.set.namespace, entry.set.name), entry.set);
    }
    for (const [key, pod] of loaded) {
      const known = before.get(key);
      this.pods.set(key, known !== undefined && samePod(known, pod) ? known : pod);
    }
    for (const [key, pod] of this.unwritten) {
      if (pod === null) this.pods.delete(key);
      else this.pods.set(key, pod);
    }
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

/** The log beside a pods file: `pods.json` -> `pods.log`. */
export function podLogPath(file: string): string {
  return `${file.replace(/\.json$/, '')}.log`;
}

function samePod(a: PodRecord | undefined, b: PodRecord): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** Several sources as one: their pods together (each source names different pods), any one's change. */
export function joinPodSources(sources: readonly PodSource[]): PodSource {
  return {
    list: () => sources.flatMap((source) => source.list()),
    onChange: (listener) => {
      for (const source of sources) source.onChange(listener);
    },
  };
}

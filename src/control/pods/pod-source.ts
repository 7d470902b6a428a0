/**
 * Where the control plane learns which pods run, on which node, with which IPs. Locally the runtime reports
 * them over the API socket (`ReportedPods`); on Kubernetes, Pods are watched on the API server
 * (`KubernetesPods`, kube-pods.ts) behind the same `PodSource`. Reported pods are persisted so that a
 * restarted control plane keeps serving the mesh it knew until the runtime resyncs: in the background, at
 * most `PERSIST_DELAY_MS` after a change, so that a burst of reports is written once and no report waits
 * for the disk. What a crash loses (the last moments of reports) comes back with the runtime's resync, which
 * a restarted control plane always gets (the local runtime resyncs every node when it sees the control plane
 * ready again).
 */
import { isIP } from 'node:net';
import { Field } from '../../core/config/field.ts';
import { formatIssue, IssueCollector } from '../../core/config/issues.ts';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../../core/config/resource.ts';
import type { PodPort } from '../../core/control-api/types.ts';
import { AmbitError } from '../../core/errors.ts';
import { readJsonFile, writeFileAtomicAsync } from '../../core/files.ts';
import { createLogger, type Logger } from '../../core/log.ts';

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

/**
 * Pods reported by a runtime, persisted in `file` (JSON) shortly after each change. A pod reported again
 * unchanged stays the same object, so the model reuses what it built from it (`model/memo.ts`).
 */
export class ReportedPods implements PodSource {
  private readonly pods = new Map<string, PodRecord>();
  private readonly listeners: (() => void)[] = [];
  private readonly file: string;
  private readonly log: Logger;
  private persistTimer: NodeJS.Timeout | undefined;
  /** The write under way, if any: writes never overlap, and `flush` waits for it. */
  private writing: Promise<void> = Promise.resolve();

  constructor(file: string, log: Logger = createLogger('pods')) {
    this.file = file;
    this.log = log;
    for (const pod of readJsonFile<PodRecord[]>(file) ?? [])
      this.pods.set(podKey(pod.namespace, pod.name), pod);
  }

  list(): readonly PodRecord[] {
    return [...this.pods.values()];
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  upsert(pod: PodRecord): void {
    const key = podKey(pod.namespace, pod.name);
    if (samePod(this.pods.get(key), pod)) return;
    this.pods.set(key, pod);
    this.changed();
  }

  remove(namespace: string, name: string): boolean {
    if (!this.pods.delete(podKey(namespace, name))) return false;
    this.changed();
    return true;
  }

  /** Makes `pods` the complete set of pods on `node`. */
  replaceNode(node: string, pods: readonly PodRecord[]): void {
    for (const pod of pods) {
      if (pod.node !== node)
        throw new AmbitError(
          'BAD_REQUEST',
          `pod ${pod.namespace}/${pod.name} is on node ${pod.node}, not ${node}`,
        );
    }
    const before = new Map<string, PodRecord>();
    for (const [key, pod] of this.pods) {
      if (pod.node !== node) continue;
      before.set(key, pod);
      this.pods.delete(key);
    }
    for (const pod of pods) {
      const key = podKey(pod.namespace, pod.name);
      const known = before.get(key);
      this.pods.set(key, known !== undefined && samePod(known, pod) ? known : pod);
    }
    this.changed();
  }

  /** Writes what is not on disk yet now, and resolves once it is (at shutdown). */
  async flush(): Promise<void> {
    if (this.persistTimer !== undefined) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
      this.persist();
    }
    await this.writing;
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
    for (const listener of this.listeners) listener();
  }

  private persist(): void {
    const content = JSON.stringify([...this.pods.values()]);
    this.writing = this.writing
      .then(() => writeFileAtomicAsync(this.file, content, 0o600))
      .catch((error: Error) => {
        // The pods stay served from memory; the next change tries the disk again.
        this.log.error('cannot persist the reported pods', { file: this.file, error: error.message });
      });
  }
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

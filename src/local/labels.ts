/**
 * `ambit local label`'s edits, as pure functions: the arguments in kubectl's syntax (`key=value` sets,
 * `key-` removes), and their effect on a namespace's or a pod's labels with kubectl's `--overwrite` rule
 * (changing an existing value needs it; setting the same value or removing does not).
 */
import { LABEL_KEY, LABEL_VALUE } from '../core/config/field.ts';
import { AmbitError, UsageError } from '../core/errors.ts';
import { findPod } from './pods.ts';
import type { ClusterState, PodRecord } from './types.ts';

export interface LabelEdit {
  /** Labels to set: key -> value. */
  set: Record<string, string>;
  /** Keys to remove. */
  remove: string[];
}

/** What an edit did, in kubectl's words. */
export type LabelChange = 'labeled' | 'unlabeled' | 'not labeled';

export interface LabelTarget {
  kind: 'pod' | 'namespace';
  name: string;
  /** For a pod: its namespace (else `default`, or the only pod of that name; see findPod). */
  namespace?: string | undefined;
}

const KINDS: Record<string, LabelTarget['kind']> = {
  pod: 'pod',
  pods: 'pod',
  po: 'pod',
  namespace: 'namespace',
  namespaces: 'namespace',
  ns: 'namespace',
};

/** `pod NAME`, `pod/NAME`, `namespace NAME`, `ns/NAME` (and kubectl's plurals): the target, and the rest. */
export function parseLabelTarget(
  args: readonly string[],
  namespace: string | undefined,
): { target: LabelTarget; rest: string[] } {
  const [resource, ...rest] = args;
  if (resource === undefined) throw new UsageError('label needs a resource: pod <name> or namespace <name>');
  let [type, name] = resource.split('/', 2) as [string, string | undefined];
  if (name === undefined) name = rest.shift();
  const kind = KINDS[type];
  if (kind === undefined) {
    throw new UsageError(
      `cannot label ${JSON.stringify(type)}: the local cluster labels pods and namespaces`,
    );
  }
  if (!name) throw new UsageError(`label ${type} needs a name`);
  // Namespaces are not namespaced: kubectl ignores -n for them, and so do we.
  return { target: kind === 'pod' ? { kind, name, namespace } : { kind, name }, rest };
}

/** `key=value` and `key-` arguments; each key validated as Kubernetes validates label keys and values. */
export function parseLabelArgs(args: readonly string[]): LabelEdit {
  if (args.length === 0) throw new UsageError('label needs at least one key=value or key- argument');
  const edit: LabelEdit = { set: {}, remove: [] };
  for (const arg of args) {
    const equals = arg.indexOf('=');
    if (equals < 0 && arg.endsWith('-')) {
      const key = arg.slice(0, -1);
      checkKey(key, arg);
      if (!edit.remove.includes(key)) edit.remove.push(key);
      continue;
    }
    if (equals < 0) throw new UsageError(`${JSON.stringify(arg)}: expected key=value, or key- to remove`);
    const key = arg.slice(0, equals);
    const value = arg.slice(equals + 1);
    checkKey(key, arg);
    if (!LABEL_VALUE.test(value)) {
      throw new UsageError(
        `${JSON.stringify(arg)}: label values are at most 63 alphanumerics, -, _ or ., starting and ending with an alphanumeric`,
      );
    }
    if (Object.hasOwn(edit.set, key) && edit.set[key] !== value) {
      throw new UsageError(`label ${key} is given two values (${edit.set[key]} and ${value})`);
    }
    edit.set[key] = value;
  }
  const both = edit.remove.find((key) => Object.hasOwn(edit.set, key));
  if (both !== undefined) throw new UsageError(`cannot both set and remove label ${both} in one command`);
  return edit;
}

function checkKey(key: string, arg: string): void {
  if (!LABEL_KEY.test(key)) {
    throw new UsageError(
      `${JSON.stringify(arg)}: invalid label key: use [prefix/]name, the name at most 63 alphanumerics, -, _ or .`,
    );
  }
}

export interface EditedLabels {
  labels: Record<string, string>;
  change: LabelChange;
  /** Keys asked to be removed that were not there (kubectl warns about them). */
  missing: string[];
}

/** Applies `edit` to `current`; without `overwrite`, changing an existing value is refused as a whole. */
export function editLabels(
  current: Readonly<Record<string, string>>,
  edit: LabelEdit,
  overwrite: boolean,
): EditedLabels {
  if (!overwrite) {
    const conflicts = Object.entries(edit.set).filter(
      ([key, value]) => Object.hasOwn(current, key) && current[key] !== value,
    );
    if (conflicts.length > 0) {
      throw new AmbitError(
        'CONFLICT',
        conflicts
          .map(([key]) => `'${key}' already has a value (${current[key]}), and --overwrite is false`)
          .join('; '),
      );
    }
  }
  const labels = { ...current, ...edit.set };
  const missing = edit.remove.filter((key) => !Object.hasOwn(current, key));
  for (const key of edit.remove) delete labels[key];
  const setSomething = Object.entries(edit.set).some(([key, value]) => current[key] !== value);
  const removedSomething = edit.remove.length > missing.length;
  const change: LabelChange = setSomething ? 'labeled' : removedSomething ? 'unlabeled' : 'not labeled';
  return { labels, change, missing };
}

export interface Relabeled extends EditedLabels {
  /** The cluster record with the new labels (the input is left unchanged). */
  cluster: ClusterState;
  /** `namespace/<name>` or `pod/<name>`, as kubectl names what it labelled. */
  object: string;
  /** The pods whose enrollment may have changed: the pod, or every pod of the namespace. */
  pods: PodRecord[];
}

/** Applies the edit to the cluster record; unknown targets and refused overwrites change nothing. */
export function relabel(
  cluster: ClusterState,
  target: LabelTarget,
  edit: LabelEdit,
  overwrite: boolean,
): Relabeled {
  if (target.kind === 'namespace') {
    const namespace = cluster.namespaces.find((candidate) => candidate.name === target.name);
    if (!namespace) {
      throw new AmbitError(
        'NOT_FOUND',
        `no namespace ${target.name} in cluster ${cluster.name} (namespaces: ${cluster.namespaces.map((n) => n.name).join(', ')})`,
      );
    }
    const edited = editLabels(namespace.labels, edit, overwrite);
    return {
      ...edited,
      cluster: {
        ...cluster,
        namespaces: cluster.namespaces.map((n) => (n === namespace ? { ...n, labels: edited.labels } : n)),
      },
      object: `namespace/${namespace.name}`,
      pods: cluster.pods.filter((pod) => pod.namespace === namespace.name),
    };
  }
  const pod = findPod(cluster, target.name, target.namespace);
  const edited = editLabels(pod.labels, edit, overwrite);
  const updated = { ...pod, labels: edited.labels };
  return {
    ...edited,
    cluster: { ...cluster, pods: cluster.pods.map((p) => (p === pod ? updated : p)) },
    object: `pod/${pod.name}`,
    pods: [updated],
  };
}

/**
 * The Kubernetes objects that workloads refer to: `ServiceAccount` (a pod's identity), `ConfigMap` and
 * `Secret` (files mounted through volumes), validated as the API server does; and the well-known kinds
 * Ambit does not run (autoscalers, disruption budgets, RBAC...), which are accepted with a warning so that a
 * real application's manifests apply as they are.
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { isMeshConfigMap, MESH_CONFIG_MAP, type MeshConfig, parseMeshConfigText } from './mesh-config.ts';

// ---------------------------------------------------------------------------------------------------------
// ServiceAccount

export type ServiceAccountSpec = Record<string, never>;

export const SERVICE_ACCOUNT_KIND: KindDefinition<ServiceAccountSpec> = {
  kind: 'ServiceAccount',
  apiVersions: ['v1'],
  namespaced: true,
  topLevel: ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'],
  parse(doc) {
    for (const key of ['secrets', 'imagePullSecrets'] as const) {
      doc.child(key).list((item) => item.object('any', { required: true }));
    }
    doc.child('automountServiceAccountToken').boolean();
    return {};
  },
};

// ---------------------------------------------------------------------------------------------------------
// ConfigMap and Secret

/** Both kinds reduce to files: key -> content, base64-encoded (Secrets and binaryData may hold any bytes). */
export interface KeyedDataSpec {
  entries: Record<string, string>;
}

/** The ConfigMap `istio` in `istio-system` also carries the mesh config, checked here (`mesh-config.ts`). */
export interface ConfigMapSpec extends KeyedDataSpec {
  meshConfig?: MeshConfig | undefined;
}

export interface SecretSpec extends KeyedDataSpec {
  type: string;
}

/** Kubernetes' limit on a ConfigMap's or Secret's data. */
const MAX_DATA_BYTES = 1024 * 1024;
export const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const CONFIG_MAP_KIND: KindDefinition<ConfigMapSpec> = {
  kind: 'ConfigMap',
  apiVersions: ['v1'],
  namespaced: true,
  topLevel: ['data', 'binaryData', 'immutable'],
  parse(doc, meta) {
    doc.child('immutable').boolean();
    const entries: Record<string, string> = {};
    readData(doc.child('data'), entries, (text) => Buffer.from(text).toString('base64'));
    readData(doc.child('binaryData'), entries, undefined, doc.child('data'));
    const checked = checkSize<ConfigMapSpec>(doc, entries);
    const mesh = doc.child('data').child(MESH_CONFIG_MAP.key);
    if (!checked || !isMeshConfigMap(meta) || !mesh.present) return checked;
    return { ...checked, meshConfig: parseMeshConfigText(mesh) };
  },
};

export const SECRET_KIND: KindDefinition<SecretSpec> = {
  kind: 'Secret',
  apiVersions: ['v1'],
  namespaced: true,
  topLevel: ['data', 'stringData', 'type', 'immutable'],
  parse(doc) {
    doc.child('immutable').boolean();
    const type = doc.child('type').string({ nonEmpty: true }) ?? 'Opaque';
    const entries: Record<string, string> = {};
    readData(doc.child('data'), entries);
    // As in Kubernetes, stringData is merged over data (its keys win).
    const fromString = (text: string) => Buffer.from(text).toString('base64');
    readData(doc.child('stringData'), entries, fromString);
    const checked = checkSize(doc, entries);
    return checked && { ...checked, type };
  },
};

/**
 * Reads one data map into `entries`: values are text to encode with `encode`, or base64 already (checked).
 * `clash` is a map whose keys must not repeat here (a ConfigMap key is in data or binaryData, not both).
 */
function readData(
  field: Field,
  entries: Record<string, string>,
  encode?: (text: string) => string,
  clash?: Field,
): void {
  field.map((item, key) => {
    if (!DATA_KEY.test(key) || key === '.' || key === '..' || key.length > 253) {
      return item.error('invalid key: use at most 253 alphanumerics, -, _ and ., not "." or ".."');
    }
    if (clash?.child(key).present) return item.error('the key is also in data: a key is in one map only');
    const value = item.string({ required: true });
    if (value === undefined) return undefined;
    if (encode) {
      entries[key] = encode(value);
    } else if (!BASE64.test(value.replace(/\s+/g, ''))) {
      item.error('not valid base64 (use stringData for plain text)');
    } else {
      entries[key] = value.replace(/\s+/g, '');
    }
    return value;
  });
}

function checkSize<T extends KeyedDataSpec>(doc: Field, entries: Record<string, string>): T | undefined {
  const bytes = Object.values(entries).reduce((sum, value) => sum + Buffer.byteLength(value, 'base64'), 0);
  if (bytes > MAX_DATA_BYTES)
    return doc.error(`holds ${bytes} bytes of data; the limit is ${MAX_DATA_BYTES}`);
  return { entries } as T;
}

// ---------------------------------------------------------------------------------------------------------
// Kinds Ambit does not run

/** Well-known kinds (by apiVersion group) that real manifests carry next to their workloads. */
const NOT_RUN: readonly [kind: string, apiVersions: readonly string[]][] = [
  ['HorizontalPodAutoscaler', ['autoscaling/v2', 'autoscaling/v1']],
  ['PodDisruptionBudget', ['policy/v1']],
  ['NetworkPolicy', ['networking.k8s.io/v1']],
  ['Ingress', ['networking.k8s.io/v1']],
  ['IngressClass', ['networking.k8s.io/v1']],
  ['Role', ['rbac.authorization.k8s.io/v1']],
  ['RoleBinding', ['rbac.authorization.k8s.io/v1']],
  ['ClusterRole', ['rbac.authorization.k8s.io/v1']],
  ['ClusterRoleBinding', ['rbac.authorization.k8s.io/v1']],
  ['ResourceQuota', ['v1']],
  ['LimitRange', ['v1']],
  ['PersistentVolumeClaim', ['v1']],
  ['PersistentVolume', ['v1']],
  ['StorageClass', ['storage.k8s.io/v1']],
  ['PriorityClass', ['scheduling.k8s.io/v1']],
  ['StatefulSet', ['apps/v1']],
  ['DaemonSet', ['apps/v1']],
  ['ReplicaSet', ['apps/v1']],
  ['Job', ['batch/v1']],
  ['CronJob', ['batch/v1']],
  ['CustomResourceDefinition', ['apiextensions.k8s.io/v1']],
  ['EndpointSlice', ['discovery.k8s.io/v1']],
  ['Endpoints', ['v1']],
];

/** A kind that parses (envelope and metadata are still checked) and warns that the local cluster ignores it. */
/** `check` holds the body to the rules its own API enforces (nothing of it is kept). */
export function notRunKind(
  kind: string,
  apiVersions: readonly string[],
  check?: (doc: Field) => void,
): KindDefinition<undefined> {
  return {
    kind,
    apiVersions,
    namespaced: ![
      'ClusterRole',
      'ClusterRoleBinding',
      'PersistentVolume',
      'StorageClass',
      'PriorityClass',
      'IngressClass',
      'CustomResourceDefinition',
    ].includes(kind),
    topLevel: 'any',
    parse(doc) {
      check?.(doc);
      doc.child('kind').warn(`${kind} is accepted but not acted on by Ambit: the document is ignored`);
      return undefined;
    },
  };
}

export const NOT_RUN_KINDS: readonly KindDefinition[] = NOT_RUN.map(([kind, versions]) =>
  notRunKind(kind, versions),
);

/**
 * Pod `volumes` and container `volumeMounts`, validated as the Kubernetes API does. The local cluster mounts
 * `configMap`, `secret` and `emptyDir` volumes; every other volume source of the API is accepted (so that
 * real manifests parse) and reported as not supported locally.
 */
import type { Field } from '../field.ts';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../resource.ts';

/** One key of a ConfigMap or Secret projected to a file (`items`). */
export interface KeyToPath {
  key: string;
  path: string;
  mode?: number | undefined;
}

export type VolumeSource =
  | {
      type: 'configMap' | 'secret';
      /** The ConfigMap's `name` or the Secret's `secretName`. */
      name: string;
      /** Undefined: every key becomes a file named after it. */
      items?: KeyToPath[] | undefined;
      defaultMode: number;
      optional: boolean;
    }
  | { type: 'emptyDir'; medium: '' | 'Memory' }
  | { type: 'unsupported'; source: string };

export interface Volume {
  name: string;
  source: VolumeSource;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly: boolean;
  /** A path inside the volume to mount instead of its root (relative, no `..`). */
  subPath?: string | undefined;
}

/** The volume sources of the Kubernetes API (core/v1 VolumeSource) that are not mounted locally. */
const OTHER_SOURCES = [
  'hostPath',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'nfs',
  'iscsi',
  'glusterfs',
  'persistentVolumeClaim',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'downwardAPI',
  'fc',
  'azureFile',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'projected',
  'portworxVolume',
  'scaleIO',
  'storageos',
  'csi',
  'ephemeral',
  'image',
] as const;
const MOUNTED_SOURCES = ['configMap', 'secret', 'emptyDir'] as const;
/** Kubernetes' default file mode for ConfigMap and Secret volumes (0644). */
const DEFAULT_MODE = 0o644;

export function parseVolume(item: Field): Volume | undefined {
  const sources = [...MOUNTED_SOURCES, ...OTHER_SOURCES];
  if (!item.object(['name', ...sources], { required: true })) return undefined;
  const name = item.child('name').string({
    required: true,
    pattern: DNS_LABEL,
    patternHint: 'volume names are at most 63 lowercase alphanumerics or - (DNS-1123 label)',
  });
  const set = sources.filter((source) => item.child(source).present);
  if (set.length !== 1) {
    return item.error(
      set.length === 0
        ? `needs one volume source (${MOUNTED_SOURCES.join(', ')} are mounted locally)`
        : `${set.join(' and ')} are mutually exclusive: a volume has one source`,
    );
  }
  const type = set[0]!;
  const field = item.child(type);
  let source: VolumeSource | undefined;
  if (type === 'configMap' || type === 'secret') {
    source = parseObjectSource(field, type);
  } else if (type === 'emptyDir') {
    if (field.object(['medium', 'sizeLimit'])) {
      const medium = field.child('medium').oneOf(['', 'Memory'] as const) ?? '';
      quantity(field.child('sizeLimit'));
      source = { type, medium };
    }
  } else {
    field.object('any');
    item.warn(
      `${type} volumes are not supported in the local cluster: ${JSON.stringify(name)} is not mounted`,
    );
    source = { type: 'unsupported', source: type };
  }
  return name === undefined || source === undefined ? undefined : { name, source };
}

function parseObjectSource(field: Field, type: 'configMap' | 'secret'): VolumeSource | undefined {
  const nameKey = type === 'configMap' ? 'name' : 'secretName';
  if (!field.object([nameKey, 'items', 'defaultMode', 'optional'], { required: true })) return undefined;
  const name = field.child(nameKey).string({
    required: true,
    pattern: DNS_SUBDOMAIN,
    patternHint: 'must be lowercase alphanumerics, - and . (DNS-1123 subdomain)',
  });
  const paths = new Set<string>();
  const items = field.child('items').present
    ? field.child('items').list((entry) => {
        if (!entry.object(['key', 'path', 'mode'], { required: true })) return undefined;
        const key = entry.child('key').string({ required: true, nonEmpty: true });
        const path = relativePath(entry.child('path'));
        const mode = fileMode(entry.child('mode'));
        if (path !== undefined) {
          if (paths.has(path)) entry.child('path').error(`duplicate path ${JSON.stringify(path)}`);
          paths.add(path);
        }
        return key === undefined || path === undefined ? undefined : { key, path, mode };
      })
    : undefined;
  const defaultMode = fileMode(field.child('defaultMode')) ?? DEFAULT_MODE;
  const optional = field.child('optional').boolean() ?? false;
  return name === undefined ? undefined : { type, name, items, defaultMode, optional };
}

/** A file path inside a volume: relative, no `..` element, as Kubernetes requires of `items[].path`. */
function relativePath(field: Field): string | undefined {
  const path = field.string({ required: true, nonEmpty: true });
  if (path === undefined) return undefined;
  if (path.startsWith('/') || path.split('/').includes('..')) {
    return field.error(`invalid path ${JSON.stringify(path)}: must be relative and must not contain ".."`);
  }
  return path;
}

/**
 * File modes as the API takes them: 0-0777. Files are read as YAML 1.2, where `0644` is decimal; Kubernetes'
 * YAML 1.1 reads it as octal, so such a value gets a hint rather than a silently different mode.
 */
function fileMode(field: Field): number | undefined {
  if (typeof field.value === 'number' && field.value > 0o777 && /^[0-7]+$/.test(String(field.value))) {
    return field.error(
      `${field.value} is more than 0777: YAML 1.2 reads 0${field.value} as decimal; write 0o${field.value} or ${Number.parseInt(String(field.value), 8)}`,
    );
  }
  return field.integer({ min: 0, max: 0o777 });
}

/** A Kubernetes resource quantity (`100m`, `1Gi`, `0.5`, `2`): a number or a string of that form. */
export function quantity(field: Field): void {
  if (!field.present || typeof field.value === 'number') return;
  field.string({
    pattern: /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[mkMGTPE]|n|u)?$/,
    patternHint: 'must be a quantity such as 100m, 0.5, 128Mi or 1Gi',
  });
}

export function parseVolumeMount(item: Field): VolumeMount | undefined {
  if (
    !item.object(
      ['name', 'mountPath', 'readOnly', 'subPath', 'subPathExpr', 'mountPropagation', 'recursiveReadOnly'],
      { required: true },
    )
  ) {
    return undefined;
  }
  const name = item.child('name').string({ required: true, nonEmpty: true });
  const mountPath = item.child('mountPath').string({
    required: true,
    pattern: /^\/(?!.*(^|\/)\.\.(\/|$))/,
    patternHint: 'must be an absolute path without ".."',
  });
  const readOnly = item.child('readOnly').boolean() ?? false;
  // Kubernetes' empty subPath means the volume's root.
  const subPath =
    item.child('subPath').present && item.child('subPath').value !== ''
      ? relativePath(item.child('subPath'))
      : undefined;
  if (item.child('subPathExpr').present) {
    item.child('subPathExpr').error('not supported in the local cluster: use subPath');
  }
  item.child('mountPropagation').oneOf(['None', 'HostToContainer', 'Bidirectional'] as const);
  item.child('recursiveReadOnly').oneOf(['Disabled', 'IfPossible', 'Enabled'] as const);
  return name === undefined || mountPath === undefined ? undefined : { name, mountPath, readOnly, subPath };
}

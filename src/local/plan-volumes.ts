/**
 * The volume part of the plan: which ConfigMaps, Secrets and ServiceAccounts the files define, and for each
 * pod the directories and files `up` writes under `<state>/volumes/` and the mounts its processes get.
 * Missing objects are problems of the pod (unless the volume is optional or the object's own document
 * failed, which is reported already). Pure, like the rest of the plan.
 */
import { join } from 'node:path';
import {
  CONFIG_MAP_KIND,
  type KeyedDataSpec,
  SECRET_KIND,
  SERVICE_ACCOUNT_KIND,
} from '../core/config/kinds/config-objects.ts';
import type { PodSpec } from '../core/config/kinds/core.ts';
import { displayName, type Resource } from '../core/config/resource.ts';
import type { MountRecord } from './types.ts';

/** A file of a configMap or secret volume, for `up` to write before the pod starts. */
export interface VolumeFile {
  /** Absolute path under the cluster's state directory. */
  path: string;
  base64: string;
  mode: number;
}

/** The directories (emptyDir, or a configMap/secret volume's root) and files `up` prepares for the pods. */
export interface VolumeContent {
  directories: { path: string; owner: number; mode: number }[];
  files: VolumeFile[];
}

export type Problem = (
  resource: Resource,
  path: string,
  message: string,
  severity?: 'error' | 'warning',
) => void;
/** Whether the document of this object failed (and was reported) already. */
export type FailedCheck = (kind: string, name: string, namespace?: string) => boolean;

/** What podVolumes needs of a pod to be placed. */
export interface VolumeRequest {
  name: string;
  namespace: string;
  spec: PodSpec;
  /** Field path of the pod spec inside its document. */
  specPath: string;
  origin: Resource;
}

/** The ServiceAccounts, ConfigMaps and Secrets of the file, by namespace/name. */
export class ObjectIndex {
  readonly #byKey = new Map<string, Resource>();

  constructor(resources: readonly Resource[]) {
    const kinds: readonly string[] = [SERVICE_ACCOUNT_KIND.kind, CONFIG_MAP_KIND.kind, SECRET_KIND.kind];
    for (const resource of resources) {
      if (kinds.includes(resource.kind))
        this.#byKey.set(`${resource.kind}/${displayName(resource)}`, resource);
    }
  }

  get<Spec>(kind: string, namespace: string, name: string): Resource<Spec> | undefined {
    return this.#byKey.get(`${kind}/${namespace}/${name}`) as Resource<Spec> | undefined;
  }
}

/** The mounts of the first container and of each init container, in order (they share the volumes). */
export interface PodMounts {
  container: MountRecord[];
  init: MountRecord[][];
}

/**
 * The mounts of the pod's containers that run (the first, and the init containers), and the directories and
 * files behind them: one directory per volume under `<state>/volumes/<pod>/`, holding a ConfigMap's or
 * Secret's keys as files, or nothing (emptyDir).
 */
export function podVolumes(
  request: VolumeRequest,
  stateDir: string,
  objects: ObjectIndex,
  failed: FailedCheck,
  out: VolumeContent,
  problem: Problem,
  /** The pod's user, who owns its emptyDirs. */
  owner: number,
): PodMounts {
  const { spec, specPath, origin, namespace } = request;
  const containers = [spec.containers[0]!, ...spec.initContainers];
  const podDir = join(stateDir, 'volumes', `${namespace}_${request.name}`);
  const mounts: MountRecord[][] = containers.map(() => []);
  spec.volumes.forEach((volume, index) => {
    const source = volume.source;
    const used = containers.some((container) =>
      container.volumeMounts.some((mount) => mount.name === volume.name),
    );
    if (!used || source.type === 'unsupported') return;
    const dir = join(podDir, volume.name);
    /** The files a configMap or secret volume holds, by path inside it (what a subPath may name)... */
    const written: string[] = [];
    /** ...once its object is there (a missing one is reported as such, or optional). */
    let defined = false;
    if (source.type === 'emptyDir') {
      out.directories.push({ path: dir, owner, mode: 0o777 });
    } else {
      const kind = source.type === 'configMap' ? CONFIG_MAP_KIND.kind : SECRET_KIND.kind;
      const field = `${specPath}.volumes[${index}].${source.type}`;
      out.directories.push({ path: dir, owner: 0, mode: 0o755 });
      const object = objects.get<KeyedDataSpec>(kind, namespace, source.name);
      if (!object) {
        if (!source.optional && !failed(kind, source.name, namespace)) {
          problem(
            origin,
            field,
            `${kind} ${namespace}/${source.name} is not defined: add it, or set optional: true to mount an empty volume`,
          );
        }
      } else {
        defined = true;
        const entries = object.spec.entries;
        const items =
          source.items ?? Object.keys(entries).map((key) => ({ key, path: key, mode: undefined }));
        items.forEach((item, itemIndex) => {
          const data = entries[item.key];
          if (data === undefined) {
            if (!source.optional) {
              problem(
                origin,
                `${field}.items[${itemIndex}].key`,
                `${kind} ${namespace}/${source.name} has no key ${JSON.stringify(item.key)}`,
              );
            }
            return;
          }
          out.files.push({ path: join(dir, item.path), base64: data, mode: item.mode ?? source.defaultMode });
          written.push(item.path);
        });
      }
    }
    containers.forEach((container, position) => {
      container.volumeMounts.forEach((mount, mountIndex) => {
        if (mount.name !== volume.name) return;
        const readOnly = mount.readOnly || source.type !== 'emptyDir';
        const subPath = mount.subPath;
        if (subPath === undefined) {
          mounts[position]!.push({ source: dir, mountPath: mount.mountPath, readOnly });
          return;
        }
        const path = join(dir, subPath);
        if (source.type === 'emptyDir') {
          // As the kubelet does: a subPath of an emptyDir is made as a directory when missing.
          out.directories.push({ path, owner, mode: 0o777 });
          mounts[position]!.push({ source: path, mountPath: mount.mountPath, readOnly });
          return;
        }
        const file = written.includes(subPath);
        if (file || written.some((candidate) => candidate.startsWith(`${subPath}/`))) {
          mounts[position]!.push({ source: path, mountPath: mount.mountPath, readOnly, file });
        } else if (defined) {
          const where = position === 0 ? 'containers[0]' : `initContainers[${position - 1}]`;
          problem(
            origin,
            `${specPath}.${where}.volumeMounts[${mountIndex}].subPath`,
            `volume ${JSON.stringify(volume.name)} holds no file or directory ${JSON.stringify(subPath)} (it holds ${written.map((name) => JSON.stringify(name)).join(', ') || 'nothing'})`,
          );
        }
      });
    });
  });
  const [container, ...init] = mounts;
  return { container: container!, init };
}

/**
 * The env part of the plan: a container's `envFrom` and `env` with the ConfigMap and Secret keys they name
 * looked up in the files' objects, as the kubelet does when it starts a container. A missing object or key
 * is a problem of the pod (a kubelet would hold the container in CreateContainerConfigError) unless the
 * reference is optional or the object's own document failed, which is reported already. The pod fields
 * (`fieldRef`) wait until the pod has a node and an address (`resolveEnv`). Pure, like the rest of the plan.
 */
import { CONFIG_MAP_KIND, type KeyedDataSpec } from '../core/config/kinds/config-objects.ts';
import type { Container, EnvObjectKind, EnvVar, PodFieldPath } from '../core/config/kinds/core.ts';
import { expandVars } from './env.ts';
import type { FailedCheck, ObjectIndex, Problem, VolumeRequest } from './plan-volumes.ts';

/** A variable of the plan: an object's key taken as it is (`literal`), or an `env` entry still to resolve. */
export type PlannedEnvVar = { name: string; literal: string } | (EnvVar & { literal?: undefined });

/**
 * A container's variables in the order Kubernetes applies them: `envFrom` sources, then `env`. `position`
 * says which container of the pod spec it is (for the fields named in problems).
 */
export function plannedEnv(
  request: VolumeRequest,
  container: Container,
  position: string,
  objects: ObjectIndex,
  failed: FailedCheck,
  problem: Problem,
): PlannedEnvVar[] {
  const { specPath, origin, namespace } = request;
  const field = `${specPath}.${position}`;
  const lookup = (kind: EnvObjectKind, name: string, optional: boolean, path: string) => {
    const object = objects.get<KeyedDataSpec>(kind, namespace, name);
    if (!object && !optional && !failed(kind, name, namespace)) {
      problem(
        origin,
        path,
        `${kind} ${namespace}/${name} is not defined: add it, or set optional: true to start without it`,
      );
    }
    return object?.spec.entries;
  };
  const planned: PlannedEnvVar[] = [];
  container.envFrom.forEach((source, index) => {
    const ref = source.kind === CONFIG_MAP_KIND.kind ? 'configMapRef' : 'secretRef';
    const entries = lookup(source.kind, source.name, source.optional, `${field}.envFrom[${index}].${ref}`);
    for (const [key, base64] of Object.entries(entries ?? {}))
      planned.push({ name: `${source.prefix}${key}`, literal: decode(base64) });
  });
  container.env.forEach((variable, index) => {
    const keyRef = variable.keyRef;
    if (keyRef === undefined) {
      planned.push(variable);
      return;
    }
    const ref = keyRef.kind === CONFIG_MAP_KIND.kind ? 'configMapKeyRef' : 'secretKeyRef';
    const path = `${field}.env[${index}].valueFrom.${ref}`;
    const entries = lookup(keyRef.kind, keyRef.name, keyRef.optional, path);
    const base64 = entries?.[keyRef.key];
    if (base64 !== undefined) {
      planned.push({ name: variable.name, literal: decode(base64) });
    } else if (entries !== undefined && !keyRef.optional) {
      problem(
        origin,
        `${path}.key`,
        `${keyRef.kind} ${namespace}/${keyRef.name} has no key ${JSON.stringify(keyRef.key)}`,
      );
    }
  });
  return planned;
}

/**
 * The variables' values once the pod's fields are known: objects' keys as they are, pod fields, and
 * `value`s with `$(VAR)` of the variables before them expanded; a later variable of a name wins. The
 * POD_* and NODE_NAME variables every local pod gets come last.
 */
export function resolveEnv(
  vars: readonly PlannedEnvVar[],
  fields: Record<PodFieldPath, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of vars) {
    env[variable.name] =
      variable.literal ??
      (variable.fieldRef !== undefined ? fields[variable.fieldRef] : expandVars(variable.value ?? '', env));
  }
  env.POD_NAME = fields['metadata.name'];
  env.POD_NAMESPACE = fields['metadata.namespace'];
  env.POD_IP = fields['status.podIP'];
  env.NODE_NAME = fields['spec.nodeName'];
  return env;
}

function decode(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

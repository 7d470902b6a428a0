/**
 * `ambit apply` on a running local cluster, before anything reaches its control plane: the files' objects,
 * merged over the ones already stored, are planned as the cluster will plan them (see desired.ts), so that
 * what the local cluster cannot run (an image without stand-in, a missing namespace, a node that does not
 * exist, a taken ClusterIP) is refused with its file, document and field, and nothing is applied. Each
 * Service the files give without a ClusterIP gets the one the cluster allocates (kept when it already
 * has one, as Kubernetes keeps a Service's ClusterIP across applies), written into the document, so the
 * control plane serves the same VIP from the first moment.
 */
import { parseAllDocuments } from 'yaml';
import { parseYamlText, type RawDocument } from '../../core/config/documents.ts';
import { isPlainObject } from '../../core/config/field.ts';
import { ConfigError, type ConfigIssue, hasErrors } from '../../core/config/issues.ts';
import type { ConfigFile, StoredResource } from '../../core/control-api/types.ts';
import type { ClusterState } from '../types.ts';
import { planLive, type StoredDocument } from './desired.ts';

function objectKey(value: unknown): string | undefined {
  if (!isPlainObject(value) || !isPlainObject(value.metadata)) return undefined;
  const namespace = typeof value.metadata.namespace === 'string' ? value.metadata.namespace : 'default';
  return `${String(value.kind)}:${namespace}/${String(value.metadata.name)}`;
}

/**
 * The files as they should be applied to the cluster's control plane (Services' ClusterIPs filled in), or
 * a ConfigError with the problems of the files' documents. Syntax and schema errors are left to the
 * control plane, which reports them as for any control plane.
 */
export function prepareLocalApply(
  cluster: ClusterState,
  stored: readonly StoredResource[],
  files: readonly ConfigFile[],
): ConfigFile[] {
  const documents: RawDocument[] = [];
  for (const file of files) {
    const parsed = parseYamlText(file.content, file.name);
    if (parsed.issues.length > 0) return [...files];
    documents.push(...parsed.documents);
  }
  const replaced = new Set(documents.map((document) => objectKey(document.value)));
  const merged: StoredDocument[] = [
    ...stored
      .filter((resource) => !replaced.has(objectKey(resource.document)))
      .map(({ document, source }) => ({ document, source })),
    ...documents.map(({ value, source }) => ({ document: value, source })),
  ];
  const live = planLive(cluster, merged);
  const names = new Set(files.map((file) => file.name));
  const ours: ConfigIssue[] = live.issues.filter((issue) => names.has(issue.source.file));
  // The warnings of a plan that left the refused objects out (a Service selecting a refused pod) are noise.
  if (hasErrors(ours)) throw new ConfigError(ours.filter((issue) => issue.severity === 'error'));
  if (!live.plan.state) return [...files];
  const clusterIPs = new Map(
    live.plan.state.services.map((service) => [
      `Service:${service.namespace}/${service.name}`,
      service.clusterIP,
    ]),
  );
  return files.map((file) => {
    const yaml = parseAllDocuments(file.content);
    if (!Array.isArray(yaml)) return file;
    let changed = false;
    for (const document of yaml) {
      const value = document.toJS() as unknown;
      if (!isPlainObject(value) || value.kind !== 'Service' || !isPlainObject(value.spec)) continue;
      if (value.spec.clusterIP !== undefined) continue;
      const ip = clusterIPs.get(objectKey(value) ?? '');
      if (ip === undefined) continue;
      document.setIn(['spec', 'clusterIP'], ip);
      changed = true;
    }
    return changed ? { ...file, content: yaml.map((document) => document.toString()).join('') } : file;
  });
}

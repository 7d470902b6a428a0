/**
 * Reads cluster files: YAML documents checked against the local cluster's kinds (the core kinds, `Cluster`
 * and the mesh kinds, which are kept for the control plane), then planned. Any error refuses the whole file
 * with every problem listed; warnings are returned for the caller to show.
 */
import { readFileSync } from 'node:fs';
import { expandConfigPaths, parseYamlText, type RawDocument } from '../core/config/documents.ts';
import { ConfigError, type ConfigIssue, hasErrors } from '../core/config/issues.ts';
import { CORE_KINDS } from '../core/config/kinds/core.ts';
import { MESH_KINDS } from '../core/config/kinds/mesh.ts';
import { kindRegistry, parseResources } from '../core/config/resource.ts';
import { UsageError } from '../core/errors.ts';
import { CLUSTER_KIND } from './cluster-kind.ts';
import { type PlanOptions, planCluster, type VolumeContent } from './plan.ts';
import type { ClusterState } from './types.ts';

export const LOCAL_KINDS = kindRegistry([CLUSTER_KIND, ...CORE_KINDS, ...MESH_KINDS]);

export interface LoadedCluster {
  state: ClusterState;
  warnings: ConfigIssue[];
  /** The documents as read, for the resolved config handed to the mesh. */
  documents: RawDocument[];
  /** What `up` writes for the pods' volumes (never recorded in the state: it holds Secret contents). */
  volumes: VolumeContent;
}

export function loadClusterFiles(paths: readonly string[], options: PlanOptions): LoadedCluster {
  const documents: RawDocument[] = [];
  const syntax: ConfigIssue[] = [];
  const files: string[] = [];
  try {
    for (const path of expandConfigPaths(paths)) {
      files.push(path);
      // Errors name each file as the user gave it.
      const text = parseYamlText(readFileSync(path, 'utf8'), path);
      documents.push(...text.documents);
      syntax.push(...text.issues);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UsageError(`cannot read ${(error as NodeJS.ErrnoException).path}: no such file`);
    }
    throw error;
  }
  if (documents.length === 0 && syntax.length === 0) {
    throw new UsageError(`${paths.join(', ')}: no YAML documents found`);
  }
  const parsed = parseResources(documents, LOCAL_KINDS);
  // The plan runs even when some documents failed, so that one run reports every problem of the files;
  // the failed ones are named so that what refers to them is not reported as missing as well.
  const failed = parsed.issues.flatMap((issue) =>
    issue.severity === 'error' && issue.resource ? [issue.resource] : [],
  );
  // A document that is not even YAML names nothing, so what refers to it cannot be told apart from a real
  // dangling reference: with syntax errors, the documents are checked one by one but not planned.
  const planned =
    syntax.length > 0
      ? { issues: [] as ConfigIssue[] }
      : planCluster(parsed.resources, { ...options, failed });
  const order = (issue: ConfigIssue) => files.indexOf(issue.source.file) * 1e6 + issue.source.document;
  const issues = [...syntax, ...parsed.issues, ...planned.issues].sort((a, b) => order(a) - order(b));
  if (hasErrors(issues) || !('state' in planned) || !planned.state || !planned.volumes) {
    throw new ConfigError(issues);
  }
  return { state: planned.state, warnings: issues, documents, volumes: planned.volumes };
}

/**
 * The cluster file as the rest of the mesh should read it: every document except the `Cluster`, unchanged,
 * except that each Service without a `clusterIP` gets the one the local cluster allocated. Written to the
 * state directory (`resources.yaml`) so that the control plane serves the same VIPs the cluster uses.
 */
import { stringify } from 'yaml';
import type { RawDocument } from '../core/config/documents.ts';
import { isPlainObject } from '../core/config/field.ts';
import { CLUSTER_KIND } from './cluster-kind.ts';
import type { ClusterState } from './types.ts';

export function resolvedConfig(documents: readonly RawDocument[], cluster: ClusterState): string {
  const vips = new Map(
    cluster.services.map((service) => [`${service.namespace}/${service.name}`, service.clusterIP]),
  );
  const out: string[] = [];
  for (const { value, source } of documents) {
    if (!isPlainObject(value) || value.kind === CLUSTER_KIND.kind) continue;
    let document = value;
    if (value.kind === 'Service' && isPlainObject(value.metadata) && isPlainObject(value.spec)) {
      const namespace = typeof value.metadata.namespace === 'string' ? value.metadata.namespace : 'default';
      const vip = vips.get(`${namespace}/${value.metadata.name}`);
      if (vip !== undefined && !value.spec.clusterIP)
        document = { ...value, spec: { ...value.spec, clusterIP: vip } };
    }
    out.push(`# ${source.file} document ${source.document}\n${stringify(document)}`);
  }
  return `# Written by \`ambit local up\` for cluster ${cluster.name}: the cluster file without its Cluster\n# document, with the allocated Service ClusterIPs filled in.\n${out.join('---\n')}`;
}

/**
 * Kubernetes-shaped resources: the envelope common to every kind (apiVersion, kind, metadata) and the
 * registry of kinds, each with its own spec parser. A parser validates and normalises in one pass and
 * returns a typed spec; the resource is kept only if its document has no error.
 */

import type { RawDocument } from './documents.ts';
import { Field } from './field.ts';
import { type ConfigIssue, IssueCollector, type SourceRef } from './issues.ts';

export interface ObjectMeta {
  name: string;
  /** Set for namespaced kinds (default `default`, as kubectl does); undefined for cluster-scoped kinds. */
  namespace: string | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Resource<Spec = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  source: SourceRef;
}

export interface KindDefinition<Spec = unknown> {
  kind: string;
  /** Accepted `apiVersion` values, the preferred one first. */
  apiVersions: readonly string[];
  namespaced: boolean;
  /**
   * Top-level keys besides apiVersion/kind/metadata (`spec`, or `data`...), or `any` for a kind whose body
   * is not read; the parser gets the document.
   */
  topLevel?: readonly string[] | 'any';
  /** Parses and validates the spec; `doc` is the whole document, so kinds without `spec` can read theirs. */
  parse(doc: Field, meta: ObjectMeta): Spec | undefined;
}

export type KindRegistry = ReadonlyMap<string, KindDefinition>;

/** The group of an apiVersion (`networking.istio.io/v1` -> `networking.istio.io`; `v1` -> the core group ""). */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/**
 * The registry key of a kind whose name another group also uses: Istio's classic `Gateway` is
 * `Gateway.networking.istio.io` (as kubectl names it, `gateways.networking.istio.io`), while the Gateway API's
 * keeps the plain `Gateway`. Definitions of such kinds set their `kind` to this qualified name.
 */
export function qualifiedKind(kind: string, group: string): string {
  return `${kind}.${group}`;
}

/**
 * Groups whose every kind Ambit knows (Kubernetes' core and apps, Istio's, the Gateway API's): an unknown kind
 * there is a mistake (`kind: VirtualSevice`) and refused. A kind of any other group is accepted with a warning.
 */
const STRICT_GROUPS: ReadonlySet<string> = new Set([
  '',
  'apps',
  'networking.istio.io',
  'security.istio.io',
  'telemetry.istio.io',
  'extensions.istio.io',
  'gateway.networking.k8s.io',
  'gateway.networking.x-k8s.io',
]);

export function kindRegistry(definitions: readonly KindDefinition[]): KindRegistry {
  return new Map(definitions.map((definition) => [definition.kind, definition]));
}

/** A DNS-1123 label: what Kubernetes requires of namespace names and most object names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS-1123 subdomain: what Kubernetes requires of names such as Pod or ConfigMap names. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface ParsedResources {
  resources: Resource[];
  issues: ConfigIssue[];
}

/**
 * Parses raw documents against a registry. All documents are checked, so the user sees every problem at
 * once; a document with any error is left out of `resources`, and callers refuse the whole set if
 * `issues` holds an error (see `hasErrors`). Duplicate kind/namespace/name across the set is an error.
 */
export function parseResources(documents: readonly RawDocument[], registry: KindRegistry): ParsedResources {
  const resources: Resource[] = [];
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, SourceRef>();
  for (const document of documents) {
    const collector = new IssueCollector(document.source);
    const resource = parseResource(new Field(document.value, '', collector), registry, collector);
    if (resource) {
      const key = resourceKey(resource);
      const first = seen.get(key);
      if (first) {
        collector.error(
          'metadata.name',
          `duplicate ${resource.kind} ${displayName(resource)}: first defined in ${first.file} document ${first.document}`,
        );
      } else {
        seen.set(key, resource.source);
      }
    }
    issues.push(...collector.issues);
    if (resource && !collector.issues.some((issue) => issue.severity === 'error')) resources.push(resource);
  }
  return { resources, issues };
}

function parseResource(doc: Field, registry: KindRegistry, collector: IssueCollector): Resource | undefined {
  if (!doc.object('any', { required: true })) return undefined;
  const kind = doc.child('kind').string({ required: true, nonEmpty: true });
  if (kind === undefined) return undefined;
  const declaredVersion = doc.child('apiVersion').value;
  const group = typeof declaredVersion === 'string' ? apiGroup(declaredVersion) : '';
  const found = registry.get(qualifiedKind(kind, group)) ?? registry.get(kind);
  // A kind of another group that shares a name with one of ours (Knative's `Service`) is not ours.
  const definition =
    found && (STRICT_GROUPS.has(group) || found.apiVersions.some((version) => apiGroup(version) === group))
      ? found
      : undefined;
  if (!definition) {
    if (!STRICT_GROUPS.has(group)) {
      // Another project's kind (cert-manager, Argo CD, an operator...): Kubernetes would take it with its CRD
      // installed, and it has no say over the mesh, so it is accepted, unread, and the user is told.
      doc
        .child('kind')
        .warn(`${kind} (${String(declaredVersion)}) is not a kind Ambit acts on: accepted and ignored`);
      return undefined;
    }
    return doc
      .child('kind')
      .error(`unknown kind ${JSON.stringify(kind)}: known kinds are ${[...registry.keys()].join(', ')}`);
  }
  const rawMeta = doc.child('metadata');
  collector.resource = {
    kind: definition.kind,
    name:
      typeof rawMeta.child('name').value === 'string' ? (rawMeta.child('name').value as string) : undefined,
    namespace: definition.namespaced ? namespaceOf(rawMeta) : undefined,
  };
  const topLevel = definition.topLevel ?? ['spec'];
  doc.object(topLevel === 'any' ? 'any' : ['apiVersion', 'kind', 'metadata', ...topLevel]);
  const apiVersion = doc.child('apiVersion').string({ required: true });
  if (apiVersion !== undefined && !definition.apiVersions.includes(apiVersion)) {
    doc
      .child('apiVersion')
      .error(
        `${definition.kind} is served as ${definition.apiVersions.join(' or ')}, not ${JSON.stringify(apiVersion)}`,
      );
  }
  const metadata = parseMetadata(rawMeta, definition.namespaced);
  if (!metadata || apiVersion === undefined) return undefined;
  const spec = definition.parse(doc, metadata);
  if (spec === undefined) return undefined;
  return { apiVersion, kind: definition.kind, metadata, spec, source: collector.source };
}

function namespaceOf(meta: Field): string {
  const namespace = meta.child('namespace').value;
  return typeof namespace === 'string' && namespace !== '' ? namespace : 'default';
}

function parseMetadata(meta: Field, namespaced: boolean): ObjectMeta | undefined {
  if (
    !meta.object(
      [
        'name',
        'namespace',
        'labels',
        'annotations',
        'uid',
        'resourceVersion',
        'generation',
        'creationTimestamp',
      ],
      { required: true },
    )
  ) {
    return undefined;
  }
  const name = meta.child('name').string({
    required: true,
    pattern: DNS_SUBDOMAIN,
    patternHint: 'names are lowercase alphanumerics, - and . (DNS-1123)',
  });
  let namespace: string | undefined;
  if (namespaced) {
    namespace =
      meta.child('namespace').string({
        pattern: DNS_LABEL,
        patternHint: 'namespaces are lowercase alphanumerics and - (DNS-1123 label)',
      }) ?? 'default';
  } else if (meta.child('namespace').present) {
    meta.child('namespace').error('this kind is cluster-scoped and takes no namespace');
  }
  const labels = meta.child('labels').labels() ?? {};
  const annotations = meta.child('annotations').map((item) => item.string({ required: true })) ?? {};
  if (name === undefined) return undefined;
  return { name, namespace, labels, annotations };
}

export function resourceKey(resource: Pick<Resource, 'kind' | 'metadata'>): string {
  return `${resource.kind}/${resource.metadata.namespace ?? ''}/${resource.metadata.name}`;
}

export function displayName(resource: Pick<Resource, 'metadata'>): string {
  return resource.metadata.namespace
    ? `${resource.metadata.namespace}/${resource.metadata.name}`
    : resource.metadata.name;
}

/** The resources of one kind, typed by its definition. */
export function ofKind<Spec>(
  resources: readonly Resource[],
  definition: KindDefinition<Spec>,
): Resource<Spec>[] {
  return resources.filter((resource) => resource.kind === definition.kind) as Resource<Spec>[];
}

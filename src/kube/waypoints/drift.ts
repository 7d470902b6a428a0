/**
 * Whether an object the waypoint controller deployed still says what it rendered (pure). The live object
 * carries more than was rendered: what the API server fills in (uids, defaults such as a Deployment's
 * strategy or a container's `imagePullPolicy`, a Service's cluster IP) and what other controllers add
 * (labels, annotations). None of that is drift; a rendered field that is missing or holds another value
 * is (an image, a port, a selector edited by hand). Arrays must match element by element, so a removed or
 * added container or port is drift too.
 *
 * A Deployment's `spec.replicas` is not compared: scaling a waypoint (by hand or by a HorizontalPodAutoscaler)
 * is the operator's to do, and restoring it would fight the autoscaler.
 */
import type { ManifestObject } from '../manifests/metadata.ts';

/** Whether `live` holds every field of `rendered` with the same value. */
export function covers(live: unknown, rendered: unknown): boolean {
  if (Array.isArray(rendered)) {
    return (
      Array.isArray(live) &&
      live.length === rendered.length &&
      rendered.every((item, i) => covers(live[i], item))
    );
  }
  if (rendered !== null && typeof rendered === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
    const fields = live as Record<string, unknown>;
    return Object.entries(rendered).every(
      ([key, value]) => value === undefined || covers(fields[key], value),
    );
  }
  return live === rendered;
}

interface LiveObject {
  metadata?: { labels?: unknown; annotations?: unknown; ownerReferences?: unknown } | undefined;
}

/** Whether `live` has drifted from `rendered` (see the header). */
export function drifted(rendered: ManifestObject, live: LiveObject): boolean {
  const { metadata, ...body } = rendered;
  const compared =
    rendered.kind === 'Deployment'
      ? { ...body, spec: { ...(body.spec as Record<string, unknown>), replicas: undefined } }
      : body;
  return !(
    covers(live.metadata?.labels ?? {}, metadata.labels ?? {}) &&
    covers(live.metadata?.annotations ?? {}, metadata.annotations ?? {}) &&
    covers(live.metadata?.ownerReferences ?? [], metadata.ownerReferences ?? []) &&
    covers(live, compared)
  );
}

/**
 * The rules Istio's schemas and webhook hold the bodies of kinds Ambit accepts but does not act on
 * (WorkloadEntry, WorkloadGroup, ProxyConfig, EnvoyFilter): a document they refuse is refused here too, with
 * its field, so that `ambit analyze` answers as `kubectl apply` against Istio would. What they accept is left
 * unread beyond these checks (the kind's warning says it is ignored).
 */
import type { Field } from '../field.ts';
import { endpoint } from './istio-service-entry.ts';

/** An HTTP header name, as Istio's probe schema has it. */
const HEADER_NAME = /^[-_A-Za-z0-9]+$/;

/** A WorkloadEntry: the same endpoint a ServiceEntry lists, with ports of its own names. */
export function checkWorkloadEntry(doc: Field): void {
  endpoint(doc.child('spec'), { byName: true });
}

/** A WorkloadGroup: a spec, and a probe whose ports are ports and whose header names are header names. */
export function checkWorkloadGroup(doc: Field): void {
  const spec = doc.child('spec').object(['metadata', 'template', 'probe'], { required: true });
  const probe = spec?.child('probe').object('any');
  if (!probe) return;
  probe.child('tcpSocket').object('any')?.child('port').port({ required: true });
  const http = probe.child('httpGet').object('any');
  if (!http) return;
  http.child('port').port({ required: true });
  http
    .child('httpHeaders')
    .list((header) =>
      header
        .object(['name', 'value'], { required: true })
        ?.child('name')
        .string({ pattern: HEADER_NAME, patternHint: 'header names are letters, digits, - and _' }),
    );
}

/** A ProxyConfig: a concurrency that is not negative, and selector labels with keys. */
export function checkProxyConfig(doc: Field): void {
  const spec = doc.child('spec').object('any');
  if (!spec) return;
  spec.child('concurrency').integer({ min: 0 });
  const labels = spec.child('selector').object('any')?.child('matchLabels');
  for (const key of labels?.keys() ?? [])
    if (key === '') labels?.child(key).error('label keys must not be empty');
}

/** An EnvoyFilter patch's match: `waypoint` only with context WAYPOINT, which matches nothing else. */
export function checkEnvoyFilter(doc: Field): void {
  const spec = doc.child('spec').object('any');
  spec?.child('configPatches').list((patch) => {
    const match = patch.object('any')?.child('match').object('any');
    if (!match) return undefined;
    const waypointContext = match.child('context').value === 'WAYPOINT';
    const waypoint = match.child('waypoint').object('any');
    if (waypoint && !waypointContext) match.error('waypoint matches only with context WAYPOINT');
    if (waypointContext) {
      for (const other of ['listener', 'routeConfiguration', 'cluster'])
        if (match.child(other).present) match.child(other).error('context WAYPOINT matches by waypoint only');
    }
    waypoint?.child('portNumber').port();
    return undefined;
  });
}

/**
 * The rules Istio's schemas and webhook hold the bodies of kinds Ambit accepts but does not act on
 * (WorkloadEntry, WorkloadGroup, ProxyConfig, EnvoyFilter, WasmPlugin): a document they refuse is refused here too, with
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

const WASM_URL_SCHEMES = ['http', 'https', 'oci', 'file'];

/** A Wasm module's URL: one of Istio's schemes, or a scheme-less reference (an OCI image). */
function wasmUrlProblem(url: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined)
    return WASM_URL_SCHEMES.includes(scheme)
      ? undefined
      : `scheme ${scheme} is not one of ${WASM_URL_SCHEMES.join(', ')}`;
  return /^[A-Za-z0-9][-A-Za-z0-9._/:@]*$/.test(url) ? undefined : 'not a URL or an image reference';
}

/** A WasmPlugin: its module's URL and checksum, named fields, match ports, env and a wildcard-free selector. */
export function checkWasmPlugin(doc: Field): void {
  const spec = doc.child('spec').object('any', { required: true });
  if (!spec) return;
  const url = spec.child('url').string({ required: true, nonEmpty: true });
  const problem = url === undefined ? undefined : wasmUrlProblem(url);
  if (problem !== undefined)
    spec.child('url').error(`url must have a scheme of http, https, oci or file: ${problem}`);
  spec.child('sha256').string({ pattern: /^$|^[a-f0-9]{64}$/, patternHint: '64 lowercase hex digits' });
  spec.child('imagePullSecret').string({ nonEmpty: true });
  spec.child('pluginName').string({ nonEmpty: true });
  spec.child('match').list((match) => {
    match
      .object('any')
      ?.child('ports')
      .list((port) => port.object('any', { required: true })?.child('number').port({ required: true }));
    return undefined;
  });
  const names = new Set<string>();
  spec
    .child('vmConfig')
    .object('any')
    ?.child('env')
    .list((entry) => {
      const env = entry.object(['name', 'value', 'valueFrom'], { required: true });
      const name = env?.child('name').string({ required: true, nonEmpty: true });
      if (name !== undefined && names.has(name)) env?.child('name').error(`duplicate env name ${name}`);
      if (name !== undefined) names.add(name);
      const from = env?.child('valueFrom').oneOf(['INLINE', 'HOST'] as const) ?? 'INLINE';
      if (from !== 'INLINE' && env?.child('value').present)
        env.child('value').error('value may only be set when valueFrom is INLINE');
      return undefined;
    });
  const labels = spec.child('selector').object('any')?.child('matchLabels');
  for (const key of labels?.keys() ?? []) {
    if (key.includes('*')) labels?.child(key).error('wildcards are not allowed in label keys');
    else if (String(labels?.child(key).value).includes('*'))
      labels?.child(key).error('wildcards are not allowed in label values');
  }
}

/**
 * One benchmark waypoint: a `Waypoint` in its own process, listening for HBONE on its loopback "pod"
 * address and sending upstream from it, with the route table it is given (access log off, as Istio's
 * default mesh config has it). Usage: node bench/support/waypoint-node.ts '<json WaypointSpec>'; prints
 * "ready" when serving.
 */
import { configureLogging, createLogger, parseLevel } from '../../src/core/log.ts';
import type { WaypointSnapshot } from '../../src/core/model/index.ts';
import { Waypoint } from '../../src/waypoint/waypoint.ts';
import { TestCa, TestCertificateProvider } from '../../test/support/test-ca.ts';

export interface WaypointSpec {
  ip: string;
  identity: string;
  snapshot: WaypointSnapshot;
  ca: { certPem: string; keyPem: string };
}

const spec = JSON.parse(process.argv[2] ?? '{}') as WaypointSpec;
configureLogging({ level: parseLevel(process.env.AMBIT_LOG_LEVEL) ?? 'error', format: 'json' });
const waypoint = new Waypoint({
  waypoint: spec.snapshot.waypoint,
  identity: spec.identity,
  certificates: new TestCertificateProvider(new TestCa('bench', spec.ca)),
  trustDomains: ['cluster.local'],
  log: createLogger('waypoint'),
  accessLog: null,
  upstreamLocalAddress: spec.ip,
  // An ingress gateway's listeners (a snapshot with `listeners`) open on the same address.
  ingressHost: spec.ip,
});
waypoint.applySnapshot(spec.snapshot);
await waypoint.listen(spec.ip, 15008);
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void waypoint.close().then(() => process.exit(0));
});

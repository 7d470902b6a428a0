/**
 * One benchmark "node": a Ztunnel in its own process serving one loopback pod. Every captured connection
 * is taken to be for `target` (the benchmark has a single destination, so no capture table is needed).
 * Usage: node bench/support/ztunnel-node.ts '<json NodeSpec>'; prints "ready" when serving.
 */
import { configureLogging, parseLevel } from '../../src/core/log.ts';
import type { NodeSnapshot } from '../../src/core/model/index.ts';
import { LoopbackPodSockets } from '../../src/ztunnel/proxy/sockets.ts';
import { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { TestCa, TestCertificateProvider } from '../../test/support/test-ca.ts';

export interface NodeSpec {
  node: string;
  podUid: string;
  podIp: string;
  snapshot: NodeSnapshot;
  ca: { certPem: string; keyPem: string };
  target: { ip: string; port: number };
  /** Other processes serve the same pod (their listeners share the ports through SO_REUSEPORT). */
  sharedPorts?: boolean;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as NodeSpec;
configureLogging({ level: parseLevel(process.env.AMBIT_LOG_LEVEL) ?? 'error', format: 'json' });
const ztunnel = new Ztunnel({
  node: spec.node,
  certificates: new TestCertificateProvider(new TestCa('bench', spec.ca)),
  originalDestination: () => spec.target,
  dns: false,
});
ztunnel.applySnapshot(spec.snapshot);
await ztunnel.addPod({
  uid: spec.podUid,
  sockets: new LoopbackPodSockets(spec.podIp, { reusePort: spec.sharedPorts === true }),
});
while (!ztunnel.readiness().ready) await new Promise((resolve) => setTimeout(resolve, 20));
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void ztunnel.close().then(() => process.exit(0));
});

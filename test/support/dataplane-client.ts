/**
 * A data-plane client process for integration tests: the real discovery client and certificate manager,
 * driven over stdin and reporting over stdout, one JSON object per line.
 *
 *   node dataplane-client.ts '{"address":...,"rootCert":FILE,"tokenFile":FILE,"node":"node-a","rejectLabel":"k=v"}'
 *
 * Events: {event:"snapshot",version,workloads,policies} | {event:"nack",version,error}
 * Commands: {cmd:"current"} -> {event:"current",...}; {cmd:"dump"} -> {event:"dump",connected,snapshot} (the
 * whole snapshot); {cmd:"cert",identity} -> {event:"cert",ok,...} (through the certificate manager, which
 * retries); {cmd:"sign",identity} -> {event:"sign",ok,...} (one CreateCertificate).
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { GrpcCertificateSigner } from '../../src/core/certs/ca-client.ts';
import { createCsr, generateRsaKey } from '../../src/core/certs/csr.ts';
import { CertificateManager } from '../../src/core/certs/manager.ts';
import { waypointDiscovery, ztunnelDiscovery } from '../../src/core/discovery/client.ts';
import { configureLogging } from '../../src/core/log.ts';
import type { NodeSnapshot, WaypointSnapshot, Workload } from '../../src/core/model/index.ts';
import { readNodeToken } from '../../src/core/node-credentials.ts';

interface Options {
  address: string;
  rootCert: string;
  tokenFile: string;
  node: string;
  /** `key=value`: snapshots with a workload carrying this label are rejected (NACK), like a ztunnel that cannot apply them. */
  rejectLabel?: string;
  /** `<namespace>/<name>`: subscribe as this waypoint instead of as the node's ztunnel. */
  waypoint?: string;
}

const options = JSON.parse(process.argv[2]!) as Options;
configureLogging({ format: 'json' });
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
const connection = {
  address: options.address,
  rootCertPem: readFileSync(options.rootCert, 'utf8'),
  token: () => readNodeToken(options.tokenFile),
};
const [rejectKey, rejectValue] = options.rejectLabel?.split('=') ?? [];

const describe = (snapshot: NodeSnapshot | WaypointSnapshot) => ({
  version: snapshot.version,
  workloads: snapshot.workloads.map((workload) => workload.uid),
  services: snapshot.services.map(
    (service) => `${service.namespace}/${service.name}:${service.endpoints.length}`,
  ),
  ...('policies' in snapshot
    ? { policies: snapshot.policies.map((policy) => `${policy.namespace}/${policy.name}`) }
    : {
        gateway: snapshot.gateway?.name,
        // `<service>:<port> <origin kind> <origin>` per compiled route, in order.
        routes: snapshot.servedServices.flatMap((service) =>
          service.ports.flatMap((port) =>
            port.routes.map(
              ({ origin }) =>
                `${service.namespace}/${service.name}:${port.port} ${origin.kind} ${origin.namespace}/${origin.name}`,
            ),
          ),
        ),
        clusters: snapshot.clusters.map((cluster) => cluster.name),
        authorization: snapshot.authorization.map((policy) => `${policy.namespace}/${policy.name}`),
      }),
});

const validate = (snapshot: { workloads: Workload[] }) => {
  const bad = snapshot.workloads.find(
    (workload) => rejectKey !== undefined && workload.labels[rejectKey] === rejectValue,
  );
  if (bad) throw new Error(`cannot apply workload ${bad.uid}: label ${options.rejectLabel}`);
};
const common = { node: options.node, connection, backoff: { initialMs: 100, maxMs: 1000 }, validate };
const [waypointNamespace, waypointName] = options.waypoint?.split('/') ?? [];
const discovery = (
  waypointName !== undefined && waypointNamespace !== undefined
    ? waypointDiscovery({ ...common, waypoint: { name: waypointName, namespace: waypointNamespace } })
    : ztunnelDiscovery(common)
).start();
discovery.onSnapshot((snapshot: NodeSnapshot | WaypointSnapshot) =>
  emit({ event: 'snapshot', ...describe(snapshot) }),
);
discovery.onNack((nack) => emit({ event: 'nack', ...nack }));

const signer = new GrpcCertificateSigner(connection);
const certificates = new CertificateManager({
  signer,
  backoff: { initialMs: 100, maxMs: 1000 },
  requestTimeoutMs: 10_000,
});

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as { cmd: string; identity?: string };
  if (command.cmd === 'current') {
    const snapshot = discovery.current();
    emit({ event: 'current', connected: discovery.connected, ...(snapshot ? describe(snapshot) : {}) });
  } else if (command.cmd === 'dump') {
    emit({ event: 'dump', connected: discovery.connected, snapshot: discovery.current() });
  } else if (command.cmd === 'sign') {
    generateRsaKey()
      .then((key) => signer.createCertificate(createCsr(command.identity!, key), 0))
      .then(
        (chain) =>
          emit({
            event: 'sign',
            ok: true,
            identity: command.identity,
            certPem: chain[0],
            chain: chain.slice(1),
          }),
        (error: Error & { grpcStatus?: number }) =>
          emit({
            event: 'sign',
            ok: false,
            identity: command.identity,
            error: error.message,
            code: error.grpcStatus,
          }),
      );
  } else if (command.cmd === 'cert') {
    certificates.getCertificate(command.identity!).then(
      (certificate) =>
        emit({
          event: 'cert',
          ok: true,
          identity: command.identity,
          certPem: certificate.certPem,
          chain: certificate.chain,
        }),
      (error: Error & { grpcStatus?: number }) =>
        emit({
          event: 'cert',
          ok: false,
          identity: command.identity,
          error: error.message,
          code: error.grpcStatus,
        }),
    );
  }
});
process.stdin.on('end', () => {
  discovery.close();
  certificates.close();
  process.exit(0);
});
emit({ event: 'started', pid: process.pid });

/**
 * `ambit ztunnel`: one node's ztunnel as a process. It subscribes to the control plane as its node (the
 * snapshots feed the ztunnel's state; a malformed one is NACKed and the previous one keeps serving), gets
 * workload certificates from the control plane's CA with the node's token, serves pod enrollment on a unix
 * socket (the node agent: capture rules plus the ztunnel's listeners inside each pod), and its admin,
 * metrics and readiness endpoints. The enrollment socket opens once a first snapshot was accepted, so no pod
 * is started before the ztunnel knows the mesh. Runs until SIGINT/SIGTERM.
 */
import { mkdir, readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';
import { GrpcCertificateSigner } from '../../core/certs/ca-client.ts';
import { CertificateManager } from '../../core/certs/manager.ts';
import { ztunnelDiscovery } from '../../core/discovery/client.ts';
import { AmbitError, errorMessage, UsageError } from '../../core/errors.ts';
import type { ControlPlaneConnection } from '../../core/grpc/credentials.ts';
import { createLogger } from '../../core/log.ts';
import { type HostPort, splitHostPort } from '../../core/net/host-port.ts';
import { readNodeToken } from '../../core/node-credentials.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';
import { originalDestination } from '../../core/sys/netns-socket.ts';
import { ManagedCertificates } from '../../core/tls/managed-certificates.ts';
import { CaptureAgent } from '../../redirect/agent.ts';
import { EnrollmentServer } from '../../redirect/enroll/server.ts';
import { parseBackendChoice } from '../../redirect/rules.ts';
import {
  createAdminServer,
  createMetricsServer,
  createReadinessServer,
  listenTcp,
  listenUnix,
} from '../../ztunnel/admin.ts';
import { UdpDnsForwarder } from '../../ztunnel/dns/forwarder.ts';
import { ZtunnelCaptureHandler } from '../../ztunnel/inpod/capture-handler.ts';
import { snapshotProblems } from '../../ztunnel/state/validate.ts';
import { Ztunnel } from '../../ztunnel/ztunnel.ts';
import { parseCommandArgs } from '../args.ts';

const USAGE = `Usage: ambit ztunnel --node NODE --control HOST:PORT --token-file FILE --ca-root FILE
                     --enroll-socket PATH [options]

Runs the ztunnel of one node, in the node's network namespace: the mesh's data plane for every enrolled pod
of the node (HBONE mTLS between pods, L4 authorization, DNS proxy), fed by the control plane.

Options:
  --node NODE             the node this ztunnel serves
  --control HOST:PORT     the control plane's gRPC listener (discovery and CA)
  --token-file FILE       the node's bearer token (re-read on every call, so rotation is picked up)
  --ca-root FILE          the mesh root (PEM) the control plane's certificate chains to
  --enroll-socket PATH    serve pod enrollment here (the node agent's socket)
  --admin-socket PATH     also serve the admin API on this unix socket (what \`ambit ztunnel-config\` reads)
  --backend NAME          capture rules backend: auto|nft|iptables|iptables-nft|iptables-legacy (default auto)
  --admin ADDR:PORT       admin API (default 127.0.0.1:${ZTUNNEL_PORTS.admin})
  --metrics-port PORT     Prometheus /metrics on all addresses of the node (default ${ZTUNNEL_PORTS.metrics})
  --readiness-port PORT   /healthz/ready on all addresses of the node (default ${ZTUNNEL_PORTS.readiness})
  --dns-upstream IP       resolver for names outside the mesh (default: none, they get NXDOMAIN)
`;

const OPTIONS = {
  node: { type: 'string' },
  control: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-root': { type: 'string' },
  'enroll-socket': { type: 'string' },
  'admin-socket': { type: 'string' },
  backend: { type: 'string' },
  admin: { type: 'string' },
  'metrics-port': { type: 'string' },
  'readiness-port': { type: 'string' },
  'dns-upstream': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag}\n\n${USAGE}`);
  return value;
}

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65535)
    throw new UsageError(`--${flag}: not a port: ${JSON.stringify(value)}`);
  return parsed;
}

function hostPort(value: string, flag: string): HostPort {
  const address = splitHostPort(value);
  if (!address) throw new UsageError(`--${flag}: expected HOST:PORT, got ${JSON.stringify(value)}`);
  return address;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: OPTIONS }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const node = required(values.node, 'node');
  const control = required(values.control, 'control');
  hostPort(control, 'control');
  const tokenFile = required(values['token-file'], 'token-file');
  const caRoot = required(values['ca-root'], 'ca-root');
  const enrollSocket = required(values['enroll-socket'], 'enroll-socket');
  const backend = values.backend === undefined ? undefined : parseBackendChoice(values.backend, '--backend');
  const admin = hostPort(values.admin ?? `127.0.0.1:${ZTUNNEL_PORTS.admin}`, 'admin');
  const metricsPort = port(values['metrics-port'], 'metrics-port', ZTUNNEL_PORTS.metrics);
  const readinessPort = port(values['readiness-port'], 'readiness-port', ZTUNNEL_PORTS.readiness);
  readNodeToken(tokenFile); // a missing or empty token is a usage problem: say so now, not on every call
  let rootCertPem: string;
  try {
    rootCertPem = await readFile(caRoot, 'utf8');
  } catch (error) {
    throw new AmbitError('CA_FILES', `cannot read --ca-root ${caRoot}: ${errorMessage(error)}`);
  }

  const log = createLogger('ztunnel', { node });
  const connection: ControlPlaneConnection = {
    address: control,
    rootCertPem,
    token: () => readNodeToken(tokenFile),
  };
  const signer = new GrpcCertificateSigner(connection);
  const certificates = new ManagedCertificates(
    new CertificateManager({ signer, log: log.child('certificates') }),
  );
  const dnsUpstream = values['dns-upstream'];
  const ztunnel = new Ztunnel({
    node,
    certificates,
    originalDestination: originalDestinationOf,
    dnsForwarder: dnsUpstream === undefined ? undefined : new UdpDnsForwarder(dnsUpstream),
    log,
  });
  const discovery = ztunnelDiscovery({
    connection,
    node,
    validate: (snapshot) => {
      const problems = snapshotProblems(snapshot);
      if (problems.length > 0) throw new Error(problems.slice(0, 10).join('; '));
    },
    log: log.child('discovery'),
  });
  discovery.onSnapshot((snapshot) => {
    certificates.setTrustBundle(snapshot.trustBundle);
    ztunnel.applySnapshot(snapshot);
  });
  discovery.start();

  const servers: Server[] = [];
  const serve = async (server: Server, listen: (server: Server) => Promise<void>) => {
    await listen(server);
    servers.push(server);
  };
  const adminServer = createAdminServer(ztunnel);
  let enrollment: EnrollmentServer | undefined;
  let captureAgent: CaptureAgent | undefined;
  const stop = async () => {
    await enrollment?.close();
    // The pods stay captured (their rules stay: fail closed); a restarted ztunnel gets them back.
    await captureAgent?.close();
    discovery.close();
    await ztunnel.close();
    certificates.close();
    signer.close();
    for (const server of servers) server.close();
  };
  const stopping = new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  try {
    await serve(adminServer, (s) => listenTcp(s, admin.host, admin.port));
    const adminSocket = values['admin-socket'];
    if (adminSocket !== undefined) {
      await mkdir(dirname(adminSocket), { recursive: true, mode: 0o700 });
      // A unix socket and a TCP port cannot share a server: a second one serves the same admin API.
      await serve(createAdminServer(ztunnel), (s) => listenUnix(s, adminSocket));
    }
    await serve(createMetricsServer(ztunnel.metrics), (s) => listenTcp(s, '0.0.0.0', metricsPort));
    await serve(
      createReadinessServer(() => ztunnel.readiness()),
      (s) => listenTcp(s, '0.0.0.0', readinessPort),
    );
    log.info('waiting for the first configuration', { control });
    const first = await Promise.race([waitForSnapshot(discovery), stopping.then(() => undefined)]);
    if (first === undefined) {
      await stop();
      return 0;
    }
    captureAgent = new CaptureAgent({
      handler: new ZtunnelCaptureHandler(ztunnel, { log: log.child('inpod') }),
      backend,
      log: log.child('capture'),
    });
    enrollment = await EnrollmentServer.listen(enrollSocket, captureAgent, log.child('enroll'));
    log.info('serving enrollment', { socket: enrollSocket, backend: backend ?? 'auto' });
  } catch (error) {
    await stop();
    throw error;
  }
  await stopping;
  log.info('stopping');
  await stop();
  return 0;
}

/** Resolves with the first accepted snapshot, however long the control plane takes (it logs its retries). */
async function waitForSnapshot(discovery: ReturnType<typeof ztunnelDiscovery>) {
  for (;;) {
    try {
      return await discovery.ready(60_000);
    } catch {
      // Still nothing: keep waiting; the discovery client reconnects with backoff.
    }
  }
}

/** SO_ORIGINAL_DST of a captured connection; undefined when it was not redirected. */
function originalDestinationOf(socket: Socket) {
  try {
    const original = originalDestination(socket);
    return { ip: original.address, port: original.port };
  } catch {
    return undefined;
  }
}

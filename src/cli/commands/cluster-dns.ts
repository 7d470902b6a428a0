/**
 * `ambit cluster-dns`: the local cluster's DNS (what CoreDNS is to Kubernetes), one per node, in the node's
 * namespace, on the DNS VIP. It reads the cluster's Services, pods and readiness from the state directory and
 * follows their changes.
 */
import { isIPv4 } from 'node:net';
import { UsageError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { metricsHandler, serveHttp } from '../../core/server/http.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import { CLUSTER_DNS_METRICS_PORT, ClusterDnsServer, clusterDnsMetrics } from '../../local/dns/server.ts';
import { buildZone } from '../../local/dns/zone.ts';
import { watchClusterServices } from '../../local/services/watch.ts';
import { readClusterState, statePaths } from '../../local/state.ts';
import { UdpDnsForwarder } from '../../ztunnel/index.ts';
import { parseDaemonArgs } from '../daemon-args.ts';
import { portFlag } from '../flags.ts';

const USAGE = `Usage: ambit cluster-dns --state-dir DIR [--listen IP] [--port 53] [--metrics-port ${CLUSTER_DNS_METRICS_PORT}] [--upstream IP]

Answers A, SRV and PTR queries for the Services and pods of the local cluster whose state is in DIR, as
CoreDNS's kubernetes plugin does. Other names go to --upstream (default: the cluster file's
spec.dns.upstream), as CoreDNS's forward plugin sends them; without one they get NXDOMAIN. --listen
defaults to the cluster's DNS VIP. Metrics: GET /metrics on --metrics-port (0.0.0.0; 0 turns them off).
`;

export async function run(argv: string[]): Promise<number> {
  const values = parseDaemonArgs(argv, ['state-dir', 'listen', 'port', 'metrics-port', 'upstream'], USAGE);
  if (!values) return 0;
  if (!values['state-dir']) throw new UsageError('missing --state-dir', USAGE);
  const paths = statePaths(values['state-dir']);
  const cluster = readClusterState(paths);
  if (!cluster) throw new UsageError(`no cluster recorded in ${paths.dir}`);
  const log = createLogger('cluster-dns');
  const metrics = clusterDnsMetrics();
  const watch = watchClusterServices(paths, log, (services) => {
    zone = buildZone(services);
    log.info('zone updated', { names: zone.names.size });
  });
  let zone = buildZone(watch.current());
  const host = values.listen ?? cluster.addresses.dnsVIP;
  const upstream = values.upstream ?? cluster.addresses.dnsUpstream;
  if (upstream !== undefined && !isIPv4(upstream))
    throw new UsageError(`--upstream takes an IPv4 address, not ${upstream}`, USAGE);
  const server = new ClusterDnsServer({
    host,
    forwarder: upstream === undefined ? undefined : new UdpDnsForwarder(upstream),
    port: portFlag(values.port, 'port', 53, { allowPortZero: true }),
    zone: () => zone,
    metrics,
    log,
  });
  await server.start();
  const metricsPort = portFlag(values['metrics-port'], 'metrics-port', CLUSTER_DNS_METRICS_PORT, {
    allowPortZero: true,
  });
  const metricsServer =
    metricsPort === 0
      ? undefined
      : await serveHttp(metricsHandler(metrics.registry), { host: '0.0.0.0', port: metricsPort });
  log.info('listening', { address: host, names: zone.names.size, upstream, metrics: metricsServer?.address });
  await stopSignal();
  watch.close();
  await Promise.all([server.stop(), metricsServer?.close()]);
  return 0;
}

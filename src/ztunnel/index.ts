/**
 * The ztunnel's public surface, for the process wiring (`ambit ztunnel`) and the local cluster: build a
 * `Ztunnel` from a certificate provider and an original-destination lookup, feed it snapshots from the
 * discovery stream, hand it pods (with sockets opened inside their network namespace) as the capture layer
 * enrolls them, and serve its admin, metrics and readiness endpoints.
 */

export type { CertificateProvider, WorkloadCertificate } from '../core/tls/certificates.ts';
export {
  type AdminSource,
  createAdminServer,
  createMetricsServer,
  createReadinessServer,
  listenTcp,
  listenUnix,
} from './admin.ts';
export { adminGet, adminSocketPath, nodesWithAdminSockets } from './admin-client.ts';
export { DEFAULT_TIMEOUTS, type TimeoutSettings, ZTUNNEL_SOCKET_MARK } from './config.ts';
export { type DnsForwarder, UdpDnsForwarder } from './dns/forwarder.ts';
export { ZtunnelMetrics } from './metrics.ts';
export type { PodContext } from './proxy/context.ts';
export {
  type Datagram,
  type DatagramEndpoint,
  LoopbackPodSockets,
  type OriginalDestination,
  type PodSockets,
  type TcpConnectOptions,
} from './proxy/sockets.ts';
export { Ztunnel, type ZtunnelOptions } from './ztunnel.ts';

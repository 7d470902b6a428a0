/**
 * The control plane's Prometheus metrics, on their own registry (several control planes can live in one
 * test process). Names follow istiod's where one exists (pilot_*, citadel_*, galley_*), so dashboards carry
 * over; the rest are ambit_control_*.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ControlMetrics {
  readonly registry = new Registry();
  readonly configRevision = new Gauge({
    name: 'ambit_control_config_revision',
    help: 'Revision of the config in force',
    registers: [this.registry],
  });
  readonly validationFailed = new Counter({
    name: 'galley_validation_failed',
    help: 'Config changes refused by validation',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly validationPassed = new Counter({
    name: 'galley_validation_passed',
    help: 'Config changes accepted by validation',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly connectedClients = new Gauge({
    name: 'pilot_xds',
    help: 'Connected data-plane clients',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'pilot_xds_pushes',
    help: 'Responses pushed to data-plane clients',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly pushBytes = new Counter({
    name: 'ambit_control_push_bytes_total',
    help: 'Resource bytes pushed to data-plane clients',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly pushSize = new Histogram({
    name: 'pilot_xds_config_size_bytes',
    help: 'Resource bytes per push',
    labelNames: ['type'],
    buckets: [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000],
    registers: [this.registry],
  });
  readonly convergence = new Histogram({
    name: 'pilot_proxy_convergence_time',
    help: 'Seconds from a change to its ACK by a data-plane client (debounce included)',
    labelNames: ['type'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly rejects = new Counter({
    name: 'pilot_total_xds_rejects',
    help: 'NACKs received from data-plane clients',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly csrCount = new Counter({
    name: 'citadel_server_csr_count',
    help: 'Certificate signing requests received',
    registers: [this.registry],
  });
  readonly certificatesIssued = new Counter({
    name: 'citadel_server_success_cert_issuance_count',
    help: 'Certificates issued',
    registers: [this.registry],
  });
  readonly certificatesRefused = new Counter({
    name: 'ambit_control_certificates_refused_total',
    help: 'Certificate requests refused, by reason (unauthenticated, node_authorization, invalid_csr)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'ambit_control_connections_refused_total',
    help: 'Connections to the gRPC listener reset before TLS, by reason (connection_limit, source_limit)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly subscriptionsRefused = new Counter({
    name: 'ambit_control_subscriptions_refused_total',
    help: 'Discovery streams refused, by gRPC status (unauthenticated, permission_denied, invalid_argument, deadline_exceeded)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
}

/**
 * The labels of Istio's standard metrics that name the two parties of a connection or request, in Istio's
 * order. The ztunnel (TCP metrics) and the waypoint (request and TCP metrics) both use them, so Kiali's and
 * Grafana's queries read the series of either unchanged; label values are `unknown` when not known.
 */
export const ISTIO_PARTY_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

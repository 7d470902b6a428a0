/**
 * A proxy's telemetry as the control plane resolves it from the mesh config (`extensionProviders`,
 * `defaultProviders`, `accessLogFile`...) and the Telemetry objects in scope: where spans go and how many
 * requests are traced, and which access logs are written, how, and for which requests. Sent to waypoints
 * in their snapshot; the data plane only carries it out.
 */

/** Spans of sampled requests, exported with OTLP/HTTP. */
export interface TracingConfig {
  /** The extension provider's name (for status and logs). */
  provider: string;
  /** The collector's OTLP/HTTP traces URL, e.g. `http://otel-collector.observability:4318/v1/traces`. */
  endpoint: string;
  /** Requests without a sampling decision that start a trace, 0-100 (Istio's `randomSamplingPercentage`). */
  samplingPercentage: number;
  /** Span attributes added to every span: a literal value or a request header's (Istio's `customTags`). */
  customTags: Record<string, { literal: string } | { header: string; defaultValue?: string | undefined }>;
}

/** One access log: where, in which format, and for which requests. */
export interface AccessLogConfig {
  provider: string;
  /** `/dev/stdout` (the process's standard output) or a file path. */
  path: string;
  encoding: 'TEXT' | 'JSON';
  /** TEXT: an Envoy format string (undefined: Envoy's default format). */
  format?: string | undefined;
  /** JSON: keys to format strings (undefined: the default keys). */
  labels?: Record<string, string> | undefined;
  /** A filter expression (`access-log-filter.ts`); only requests it holds for are logged. */
  filter?: string | undefined;
}

export interface ProxyTelemetry {
  tracing?: TracingConfig | undefined;
  accessLogs: AccessLogConfig[];
  /** Istio metric names (`istio_requests_total`...) that the Telemetry objects turned off. */
  disabledMetrics: string[];
}

export const STDOUT_PATH = '/dev/stdout';

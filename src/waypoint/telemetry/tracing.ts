/**
 * Distributed tracing at the waypoint, with OpenTelemetry's SDK: a server span per request, continuing the
 * caller's trace from W3C `traceparent`/`tracestate` or B3 (`x-b3-*`, `b3`) and starting one otherwise;
 * the sampling decision of a caller is kept, a new trace is sampled at `samplingPercentage` (Istio's
 * `randomSamplingPercentage`). The span's context goes upstream in both formats, so applications that
 * forward either keep the trace connected. Spans are batched and exported with OTLP/HTTP to the collector
 * the mesh config names; the batch queue is bounded (spans beyond it are dropped by the SDK), and nothing
 * is logged per request.
 */
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  trace,
} from '@opentelemetry/api';
import {
  CompositePropagator,
  type ExportResult,
  ExportResultCode,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from '../../core/observe/telemetry-config.ts';
import type { HeaderMap } from '../pipeline/headers.ts';
import {
  endAttributes,
  isError,
  type SpanEnd,
  type SpanStart,
  spanName,
  startAttributes,
} from './span-attributes.ts';

/** How the batch processor holds and ships spans: bounded, and flushed often enough to watch. */
export const SPAN_EXPORT = {
  maxQueueSize: 4096,
  maxExportBatchSize: 512,
  scheduledDelayMillis: 1000,
  exportTimeoutMillis: 10_000,
} as const;

/** B3 is injected as `x-b3-*` headers, the form Istio's applications forward; `b3` would go stale. */
const B3_SINGLE = 'b3';

const PROPAGATOR: TextMapPropagator = new CompositePropagator({
  // Extraction runs in order, the last that finds a context wins: W3C over B3 when a caller sends both.
  propagators: [
    new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }),
    new W3CTraceContextPropagator(),
  ],
});

/** One request's span, from its arrival to the end of its response. */
export interface RequestSpan {
  readonly traceId: string;
  /** Writes the span's context into the upstream request's headers. */
  inject(headers: HeaderMap): void;
  end(facts: SpanEnd): void;
}

/** Spans handed to the collector, by how the export went (the waypoint's metrics read it). */
export interface SpanCounts {
  exported: number;
  failed: number;
}

/** The OTLP exporter, counting what it could and could not deliver (the SDK would say it nowhere). */
class CountingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #counts: SpanCounts;

  constructor(inner: SpanExporter, counts: SpanCounts) {
    this.#inner = inner;
    this.#counts = counts;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.#counts.exported += spans.length;
      else this.#counts.failed += spans.length;
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

export class RequestTracer {
  readonly counts: SpanCounts = { exported: 0, failed: 0 };
  readonly #serviceName: string;
  #config: TracingConfig | undefined;
  #provider: BasicTracerProvider | undefined;
  #tracer: ReturnType<BasicTracerProvider['getTracer']> | undefined;

  /** `serviceName` names the proxy in its spans' resource (Istio: `<waypoint>.<namespace>`). */
  constructor(serviceName: string) {
    this.#serviceName = serviceName;
  }

  get config(): TracingConfig | undefined {
    return this.#config;
  }

  /** Whether requests get spans: callers check it before building what `start` would read. */
  get tracing(): boolean {
    return this.#tracer !== undefined && this.#config !== undefined;
  }

  /** Installs a pushed config; a new collector or sampling rebuilds the provider (the old one flushes). */
  configure(config: TracingConfig | undefined): void {
    if (JSON.stringify(config) === JSON.stringify(this.#config)) return;
    const old = this.#provider;
    this.#config = config;
    this.#provider = undefined;
    this.#tracer = undefined;
    void old?.shutdown().catch(() => undefined);
    if (config === undefined) return;
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: this.#serviceName }),
      sampler: new ParentBasedSampler({
        root: new TraceIdRatioBasedSampler(config.samplingPercentage / 100),
      }),
      spanProcessors: [
        new BatchSpanProcessor(
          new CountingExporter(
            new OTLPTraceExporter({ url: config.endpoint, timeoutMillis: SPAN_EXPORT.exportTimeoutMillis }),
            this.counts,
          ),
          SPAN_EXPORT,
        ),
      ],
    });
    this.#tracer = this.#provider.getTracer('ambit-waypoint');
  }

  /** Starts the span of a request that just arrived; undefined when tracing is off. */
  start(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    facts: SpanStart,
  ): RequestSpan | undefined {
    const tracer = this.#tracer;
    const config = this.#config;
    if (tracer === undefined || config === undefined) return undefined;
    const parent = PROPAGATOR.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    const span = tracer.startSpan(
      spanName(facts),
      { kind: SpanKind.SERVER, attributes: startAttributes(facts, config, headers) },
      parent,
    );
    return new ActiveSpan(span, trace.setSpan(parent, span));
  }

  /** Exports what is queued and stops; a collector that cannot be reached does not hold the stop up. */
  async close(): Promise<void> {
    const provider = this.#provider;
    this.#provider = undefined;
    this.#tracer = undefined;
    await provider?.shutdown().catch(() => undefined);
  }
}

class ActiveSpan implements RequestSpan {
  readonly #span: Span;
  readonly #context: Context;

  constructor(span: Span, context: Context) {
    this.#span = span;
    this.#context = context;
  }

  get traceId(): string {
    return this.#span.spanContext().traceId;
  }

  inject(headers: HeaderMap): void {
    delete headers[B3_SINGLE];
    PROPAGATOR.inject(this.#context, headers, defaultTextMapSetter);
  }

  end(facts: SpanEnd): void {
    if (!this.#span.isRecording()) return;
    this.#span.setAttributes(endAttributes(facts));
    if (isError(facts.responseCode))
      this.#span.setStatus({ code: SpanStatusCode.ERROR, message: facts.responseFlags });
    this.#span.end();
  }
}

/**
 * Spans as an OTLP receiver holds them: read from OTLP/HTTP JSON (`ExportTraceServiceRequest`, ids in hex
 * as the OTLP JSON encoding writes them), kept in a bounded store (the oldest go first), and shown as trace
 * trees (each span under its parent), so that one request's path across waypoints reads at a glance.
 */
import { AmbitError } from '../errors.ts';

export interface StoredSpan {
  traceId: string;
  spanId: string;
  /** Undefined for a trace's root span. */
  parentSpanId: string | undefined;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** The `service.name` of the resource that sent it. */
  service: string | undefined;
  startTimeUnixNano: string;
  durationMs: number;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  attributes: Record<string, string | number | boolean>;
}

/** An export request this receiver cannot read (answered 400). */
export class OtlpFormatError extends AmbitError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
    this.name = 'OtlpFormatError';
  }
}

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  status?: { code?: number };
  attributes?: OtlpKeyValue[];
}

const HEX_ID = { trace: /^[0-9a-f]{32}$/, span: /^[0-9a-f]{16}$/ };

function scalar(value: OtlpAnyValue | undefined): string | number | boolean | undefined {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue;
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    const read = scalar(value);
    if (typeof key === 'string' && read !== undefined) attributes[key] = read;
  }
  return attributes;
}

function list<T>(value: unknown, what: string): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new OtlpFormatError(`${what} is not a list`);
  return value as T[];
}

/** The spans of one OTLP/HTTP JSON export request; throws `OtlpFormatError` on one it cannot read. */
export function spansOfOtlpJson(body: unknown): StoredSpan[] {
  if (typeof body !== 'object' || body === null) throw new OtlpFormatError('the body is not a JSON object');
  const spans: StoredSpan[] = [];
  type ResourceSpans = { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: unknown };
  for (const resource of list<ResourceSpans>(
    (body as { resourceSpans?: unknown }).resourceSpans,
    'resourceSpans',
  )) {
    const service = attributesOf(resource.resource?.attributes)['service.name'];
    for (const scope of list<{ spans?: unknown }>(resource.scopeSpans, 'scopeSpans')) {
      for (const span of list<OtlpSpan>(scope.spans, 'spans')) {
        const traceId = (span.traceId ?? '').toLowerCase();
        const spanId = (span.spanId ?? '').toLowerCase();
        if (!HEX_ID.trace.test(traceId) || !HEX_ID.span.test(spanId))
          throw new OtlpFormatError('span ids are not hex (send OTLP JSON: 32 and 16 hex digits)');
        const start = BigInt(span.startTimeUnixNano ?? 0);
        const end = BigInt(span.endTimeUnixNano ?? span.startTimeUnixNano ?? 0);
        spans.push({
          traceId,
          spanId,
          parentSpanId: span.parentSpanId ? span.parentSpanId.toLowerCase() : undefined,
          name: String(span.name ?? ''),
          kind: Number(span.kind ?? 0),
          service: typeof service === 'string' ? service : undefined,
          startTimeUnixNano: start.toString(),
          durationMs: Number(end - start) / 1e6,
          statusCode: Number(span.status?.code ?? 0),
          attributes: attributesOf(span.attributes),
        });
      }
    }
  }
  return spans;
}

/** The last `maxSpans` spans received, in arrival order. */
export class TraceStore {
  readonly #maxSpans: number;
  #spans: StoredSpan[] = [];
  /** Spans pushed out by newer ones. */
  evicted = 0;

  constructor(maxSpans: number) {
    this.#maxSpans = maxSpans;
  }

  add(spans: readonly StoredSpan[]): void {
    this.#spans.push(...spans);
    const over = this.#spans.length - this.#maxSpans;
    if (over > 0) {
      this.#spans = this.#spans.slice(over);
      this.evicted += over;
    }
  }

  get spans(): readonly StoredSpan[] {
    return this.#spans;
  }

  /** The spans of each trace, traces in the order their first span arrived. */
  traces(): StoredSpan[][] {
    const byTrace = new Map<string, StoredSpan[]>();
    for (const span of this.#spans) {
      const spans = byTrace.get(span.traceId);
      if (spans === undefined) byTrace.set(span.traceId, [span]);
      else spans.push(span);
    }
    return [...byTrace.values()];
  }
}

/**
 * One trace as a tree: a line per span (service, name, status code, duration), indented under its parent;
 * a span whose parent is not here (it was not sent, or came from an application) stands at the top.
 */
export function renderTraceTree(spans: readonly StoredSpan[]): string {
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map<string | undefined, StoredSpan[]>();
  for (const span of spans) {
    const parent =
      span.parentSpanId !== undefined && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    const siblings = children.get(parent);
    if (siblings === undefined) children.set(parent, [span]);
    else siblings.push(span);
  }
  const lines = [`trace ${spans[0]?.traceId ?? '-'}`];
  const visit = (parent: string | undefined, depth: number) => {
    const level = [...(children.get(parent) ?? [])].sort((a, b) =>
      BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1,
    );
    for (const span of level) {
      const code = span.attributes['http.status_code'] ?? span.attributes['http.response.status_code'] ?? '-';
      const error = span.statusCode === 2 ? ' ERROR' : '';
      lines.push(
        `${'  '.repeat(depth + 1)}${span.service ?? '?'} ${span.name} ${code}${error} ${span.durationMs.toFixed(1)}ms span=${span.spanId}${span.parentSpanId ? ` parent=${span.parentSpanId}` : ''}`,
      );
      visit(span.spanId, depth + 1);
    }
  };
  visit(undefined, 0);
  return `${lines.join('\n')}\n`;
}

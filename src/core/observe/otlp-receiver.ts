/**
 * A small OTLP/HTTP trace receiver (`ambit trace-collector`, and the tests' collector): `POST /v1/traces`
 * with OTLP JSON stores the spans (`TraceStore`); `GET /traces` shows the stored traces as trees, `GET
 * /traces?format=json` as JSON. What a peer can make it hold is bounded: the body size, the stored spans,
 * the connections and the time a request may take; what it refuses is counted by reason.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  OtlpFormatError,
  renderTraceTree,
  type StoredSpan,
  spansOfOtlpJson,
  TraceStore,
} from './trace-store.ts';

export interface OtlpReceiverOptions {
  maxSpans?: number | undefined;
  maxBodyBytes?: number | undefined;
  maxConnections?: number | undefined;
  /** Called with each export's spans once stored (the CLI prints them). */
  onSpans?: ((spans: readonly StoredSpan[]) => void) | undefined;
}

export const OTLP_LIMITS = {
  maxSpans: 10_000,
  maxBodyBytes: 4 * 1024 * 1024,
  maxConnections: 256,
  requestTimeoutMs: 30_000,
} as const;

export type OtlpRefusal = 'too-large' | 'not-json' | 'malformed' | 'not-found' | 'method';

export class OtlpReceiver {
  readonly store: TraceStore;
  readonly server: Server;
  readonly refused: Record<OtlpRefusal, number> = {
    'too-large': 0,
    'not-json': 0,
    malformed: 0,
    'not-found': 0,
    method: 0,
  };
  readonly #maxBodyBytes: number;
  readonly #onSpans: OtlpReceiverOptions['onSpans'];

  constructor(options: OtlpReceiverOptions = {}) {
    this.store = new TraceStore(options.maxSpans ?? OTLP_LIMITS.maxSpans);
    this.#maxBodyBytes = options.maxBodyBytes ?? OTLP_LIMITS.maxBodyBytes;
    this.#onSpans = options.onSpans;
    this.server = createServer({ requestTimeout: OTLP_LIMITS.requestTimeoutMs }, (req, res) =>
      this.#handle(req, res),
    );
    this.server.maxConnections = options.maxConnections ?? OTLP_LIMITS.maxConnections;
  }

  #refuse(res: ServerResponse, reason: OtlpRefusal, status: number, message: string): void {
    this.refused[reason]++;
    res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(`${message}\n`);
  }

  /** What a request's head asks for: the trace view, a refusal, or (undefined) an export to read. */
  #check(req: IncomingMessage, url: URL): 'show' | [OtlpRefusal, number, string] | undefined {
    if (url.pathname === '/traces' && req.method === 'GET') return 'show';
    if (url.pathname !== '/v1/traces') return ['not-found', 404, 'POST /v1/traces or GET /traces'];
    if (req.method !== 'POST') return ['method', 405, 'POST OTLP/HTTP JSON to /v1/traces'];
    if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
      return ['not-json', 415, 'this collector reads OTLP/HTTP JSON (application/json)'];
    if (Number(req.headers['content-length'] ?? 0) > this.#maxBodyBytes) return this.#tooLarge();
    return undefined;
  }

  #tooLarge(): [OtlpRefusal, number, string] {
    return ['too-large', 413, `bodies are limited to ${this.#maxBodyBytes} bytes`];
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://collector');
    const refusal = this.#check(req, url);
    if (refusal === 'show') {
      this.#show(res, url.searchParams.get('format'));
      return;
    }
    if (refusal !== undefined) {
      this.#refuse(res, ...refusal);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.#maxBodyBytes) {
        this.#refuse(res, ...this.#tooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      let spans: StoredSpan[];
      try {
        spans = spansOfOtlpJson(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        const message = error instanceof OtlpFormatError ? error.message : 'the body is not JSON';
        this.#refuse(res, 'malformed', 400, message);
        return;
      }
      this.store.add(spans);
      this.#onSpans?.(spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  }

  #show(res: ServerResponse, format: string | null): void {
    const traces = this.store.traces();
    if (format === 'json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(traces));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(traces.map(renderTraceTree).join('\n'));
  }
}

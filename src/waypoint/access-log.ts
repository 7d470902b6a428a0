/**
 * The access log: one line per request in Envoy's default format, buffered and written asynchronously in
 * batches (never a synchronous write per request). If the sink falls behind, lines beyond the buffer bound
 * are dropped and counted rather than held in memory without limit.
 */
import type { Writable } from 'node:stream';

export interface AccessLogEntry {
  startTime: Date;
  method: string;
  path: string;
  protocol: string;
  responseCode: number;
  responseFlags: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstreamServiceMs: number | undefined;
  forwardedFor: string | undefined;
  userAgent: string | undefined;
  requestId: string | undefined;
  authority: string | undefined;
  upstreamHost: string | undefined;
}

/** Envoy's default format: `[time] "METHOD PATH PROTO" code flags rx tx duration upstream "xff" "ua" "id" "authority" "upstream"`. */
export function formatAccessLogLine(entry: AccessLogEntry): string {
  const dash = (value: string | number | undefined) =>
    value === undefined || value === '' ? '-' : String(value);
  return `[${entry.startTime.toISOString()}] "${entry.method} ${entry.path} ${entry.protocol}" ${entry.responseCode} ${entry.responseFlags} ${entry.bytesReceived} ${entry.bytesSent} ${Math.round(entry.durationMs)} ${dash(entry.upstreamServiceMs === undefined ? undefined : Math.round(entry.upstreamServiceMs))} "${dash(entry.forwardedFor)}" "${dash(entry.userAgent)}" "${dash(entry.requestId)}" "${dash(entry.authority)}" "${dash(entry.upstreamHost)}"\n`;
}

/** Lines held while the sink is busy; beyond this, new lines are dropped (and counted). */
const MAX_PENDING_LINES = 10_000;

export class AccessLog {
  readonly #sink: Writable | undefined;
  #pending: string[] = [];
  #scheduled = false;
  #writing = false;
  dropped = 0;

  /** No sink: nothing is formatted or kept (access logging off). */
  constructor(sink: Writable | undefined) {
    this.#sink = sink;
  }

  get enabled(): boolean {
    return this.#sink !== undefined;
  }

  write(entry: AccessLogEntry): void {
    if (this.#sink === undefined) return;
    if (this.#pending.length >= MAX_PENDING_LINES) {
      this.dropped++;
      return;
    }
    this.#pending.push(formatAccessLogLine(entry));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#writing || this.#pending.length === 0 || this.#sink === undefined) return;
    const batch = this.#pending.join('');
    this.#pending = [];
    this.#writing = true;
    this.#sink.write(batch, () => {
      this.#writing = false;
      if (this.#pending.length > 0) this.#flush();
    });
  }
}

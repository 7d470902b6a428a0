/**
 * The waypoint's access logs: one line per request in each configured log (the mesh config's and the
 * Telemetry objects' providers, `core/observe/telemetry-config.ts`), text in an Envoy format or JSON,
 * filtered by each log's expression. Formats and filters are compiled when the config arrives; lines go
 * through bounded, batched writers (`LineWriter`), one per destination file, so a request never waits on
 * a write. Until the control plane says otherwise the waypoint writes Envoy's default text line to its
 * standard output.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { compileFilter } from '../core/observe/access-log-filter.ts';
import {
  type AccessLogEntry,
  type CompiledFormat,
  type CompiledLabels,
  compileFormat,
  compileLabels,
  DEFAULT_JSON_LABELS,
  ENVOY_DEFAULT_FORMAT,
  renderJson,
  renderText,
} from '../core/observe/access-log-format.ts';
import { LineWriter } from '../core/observe/line-writer.ts';
import { type AccessLogConfig, STDOUT_PATH } from '../core/observe/telemetry-config.ts';

export type { AccessLogEntry } from '../core/observe/access-log-format.ts';

interface CompiledLog {
  render: (entry: AccessLogEntry) => string;
  filter: ((entry: AccessLogEntry) => boolean) | undefined;
  path: string;
}

const DEFAULT_TEXT = expectFormat(ENVOY_DEFAULT_FORMAT);

/** Envoy's default line, with `-` for what is missing. */
export function formatAccessLogLine(entry: AccessLogEntry): string {
  return renderText(DEFAULT_TEXT, entry);
}

function expectFormat(text: string): CompiledFormat {
  const result = compileFormat(text);
  if ('error' in result) throw new Error(`access log format: ${result.error}`);
  return result.format;
}

function expectLabels(labels: Readonly<Record<string, string>>): CompiledLabels {
  const result = compileLabels(labels);
  if ('error' in result) throw new Error(`access log label ${result.key}: ${result.error}`);
  return result.labels;
}

/**
 * Compiles one configured log; throws on a format or filter the control plane should have refused (the
 * snapshot is then NACKed, see `accessLogProblems`).
 */
function compileLog(config: AccessLogConfig): CompiledLog {
  let render: CompiledLog['render'];
  if (config.encoding === 'JSON') {
    const labels = expectLabels(config.labels ?? DEFAULT_JSON_LABELS);
    render = (entry) => renderJson(labels, entry);
  } else {
    const format = config.format === undefined ? DEFAULT_TEXT : expectFormat(config.format);
    render = (entry) => renderText(format, entry);
  }
  let filter: CompiledLog['filter'];
  if (config.filter !== undefined) {
    const compiled = compileFilter(config.filter);
    if ('error' in compiled) throw new Error(`access log filter: ${compiled.error}`);
    // Every waypoint request arrived over HBONE, so over mTLS.
    filter = (entry) => compiled.filter({ entry, mtls: true });
  }
  return { render, filter, path: config.path };
}

/** What is wrong with a pushed access log config, for the discovery client to NACK it. */
export function accessLogProblems(configs: readonly AccessLogConfig[]): string[] {
  const problems: string[] = [];
  configs.forEach((config, index) => {
    try {
      compileLog(config);
    } catch (error) {
      problems.push(`accessLogs[${index}] (${config.provider}): ${(error as Error).message}`);
    }
  });
  return problems;
}

const DEFAULT_LOG: AccessLogConfig = {
  provider: 'envoy',
  path: STDOUT_PATH,
  encoding: 'TEXT',
};

export class AccessLog {
  /** Standard output (`/dev/stdout` in a config); undefined turns every log off (tests). */
  readonly #stdout: Writable | undefined;
  readonly #writers = new Map<string, LineWriter>();
  #logs: CompiledLog[] = [];

  constructor(stdout: Writable | undefined) {
    this.#stdout = stdout;
    this.configure([DEFAULT_LOG]);
  }

  get enabled(): boolean {
    return this.#logs.length > 0;
  }

  /** Lines dropped because a destination fell behind, all logs together. */
  get dropped(): number {
    let total = 0;
    for (const writer of this.#writers.values()) total += writer.dropped;
    return total;
  }

  /** Installs the logs of a pushed snapshot; files no log names any more are closed. */
  configure(configs: readonly AccessLogConfig[]): void {
    if (this.#stdout === undefined) return;
    this.#logs = configs.map(compileLog);
    const paths = new Set(this.#logs.map((log) => log.path));
    for (const [path, writer] of this.#writers) {
      if (paths.has(path)) continue;
      if (path !== STDOUT_PATH) writer.sink.end();
      this.#writers.delete(path);
    }
  }

  write(entry: AccessLogEntry): void {
    for (const log of this.#logs) {
      if (log.filter !== undefined && !log.filter(entry)) continue;
      this.#writer(log.path).write(log.render(entry));
    }
  }

  close(): void {
    for (const [path, writer] of this.#writers) if (path !== STDOUT_PATH) writer.sink.end();
    this.#writers.clear();
  }

  #writer(path: string): LineWriter {
    let writer = this.#writers.get(path);
    if (writer === undefined) {
      const sink =
        path === STDOUT_PATH ? (this.#stdout as Writable) : createWriteStream(path, { flags: 'a' });
      writer = new LineWriter(sink);
      this.#writers.set(path, writer);
    }
    return writer;
  }
}

/**
 * `ambit trace-collector`: a small OTLP/HTTP trace receiver to point the mesh's tracing at (as a pod of
 * the local cluster, or anywhere): it keeps the last spans, prints one line per span as they arrive, and
 * shows the stored traces as trees on `GET /traces`.
 */
import { UsageError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { OTLP_LIMITS, OtlpReceiver } from '../../core/observe/otlp-receiver.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { portFlag } from '../flags.ts';

const USAGE = `Usage: ambit trace-collector [--port 4318] [--host ADDR] [--max-spans ${OTLP_LIMITS.maxSpans}]

Receives spans over OTLP/HTTP JSON on POST /v1/traces (what the waypoints' exporter sends), keeps the last
--max-spans of them, logs one line per span, and answers GET /traces with the traces as trees (each span
under its parent), GET /traces?format=json with them as JSON.
--host defaults to 0.0.0.0 inside a local-cluster pod (POD_IP is set) and to 127.0.0.1 elsewhere.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    {
      args: argv,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'max-spans': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (printedHelp(values, USAGE)) return 0;
  const port = portFlag(values.port, 'port', 4318);
  const maxSpans = integerOption(
    '--max-spans',
    values['max-spans'] ?? String(OTLP_LIMITS.maxSpans),
    10_000_000,
  );
  const host = values.host ?? (process.env.POD_IP ? '0.0.0.0' : '127.0.0.1');
  const log = createLogger('trace-collector');
  const receiver = new OtlpReceiver({
    maxSpans,
    // One line per span received: this process is the collector, not a proxy on a request path.
    onSpans: (spans) => {
      for (const span of spans)
        log.info('span', {
          trace: span.traceId,
          span: span.spanId,
          parent: span.parentSpanId,
          service: span.service,
          name: span.name,
          code: span.attributes['http.status_code'],
          ms: Number(span.durationMs.toFixed(2)),
        });
    },
  });
  await new Promise<void>((resolve, reject) => {
    receiver.server.once('error', reject);
    receiver.server.listen(port, host, resolve);
  });
  log.info('listening', { otlpHttp: `${host}:${port}`, traces: `http://${host}:${port}/traces` });
  await stopSignal();
  receiver.server.close();
  return 0;
}

function integerOption(flag: string, text: string, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > max)
    throw new UsageError(`${flag} takes a whole number from 1 to ${max}, not ${text}`);
  return value;
}

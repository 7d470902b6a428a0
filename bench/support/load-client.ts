/**
 * One load run as a process of its own, so that it can run inside a pod's network namespace (`ip netns exec`)
 * where the pod's traffic capture applies: prints the result as one JSON line.
 *
 *   node load-client.ts '{"mode":"bulk","host":..,"port":..,"countHost":..,"streams":8,"seconds":5}'
 *   node load-client.ts '{"mode":"rr","host":..,"port":..,"connections":32,"seconds":5}'
 */
import { APP_PORTS, bulk, readSinkCount, requestResponse } from './load.ts';

export type LoadRun =
  /** Bulk to host:port; the sink's byte count is read from countHost (the app's own address). */
  | { mode: 'bulk'; host: string; port: number; countHost: string; streams: number; seconds: number }
  | { mode: 'rr'; host: string; port: number; connections: number; seconds: number };

const run = JSON.parse(process.argv[2] ?? '{}') as LoadRun;
const result =
  run.mode === 'bulk'
    ? {
        mibPerSecond: await bulk(run.host, run.port, run.streams, run.seconds, () =>
          readSinkCount(run.countHost, APP_PORTS.sinkCount),
        ),
      }
    : await requestResponse(run.host, run.port, run.connections, run.seconds);
process.stdout.write(`${JSON.stringify(result)}\n`);

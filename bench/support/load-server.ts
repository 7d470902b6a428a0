/**
 * The benchmark app as a process of its own (a pod's command in `bench/mesh-cluster.ts`): the sink, the
 * request/response app and the sink's byte count, on APP_PORTS of every address.
 */
import { APP_PORTS, listen, requestResponseServer, sinkCountServer, sinkServer } from './load.ts';

const counter = { bytes: 0 };
await listen(sinkServer(counter), '0.0.0.0', APP_PORTS.sink);
await listen(requestResponseServer(), '0.0.0.0', APP_PORTS.requestResponse);
await listen(sinkCountServer(counter), '0.0.0.0', APP_PORTS.sinkCount);
process.stdout.write('ready\n');

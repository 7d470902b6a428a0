/**
 * A worker process of the discovery push benchmark: many simulated ztunnels, each the data plane's real
 * discovery client with the ztunnel's real state store behind it (validated and applied as the ztunnel app
 * does), so that the client's work is counted here and not in the control plane's process. Told over IPC
 * whom to subscribe as; reports each change's acceptance times and this process's CPU.
 */
import { ztunnelDiscovery } from '../src/core/discovery/client.ts';
import type { Logger } from '../src/core/log.ts';
import { StateStore } from '../src/ztunnel/state/store.ts';

export interface WorkerStart {
  type: 'start';
  address: string;
  rootCertPem: string;
  clients: { node: string; token: string }[];
  /** At most this many clients of this worker wait for their first snapshot at once (the rest queue). */
  concurrency: number;
}

/** Report once every client holds `version` or later. */
export interface WorkerAwait {
  type: 'await';
  version: number;
}

/** Start counting this process's CPU afresh. */
export interface WorkerMark {
  type: 'mark';
}

export type WorkerCommand = WorkerStart | WorkerAwait | WorkerMark;

export interface WorkerReport {
  type: 'synced';
  version: number;
  /** Wall-clock times (ms, epoch) at which each client accepted the version (its ACK written). */
  acceptedAt: number[];
  /** When the first message of each client's last accepted response arrived (ms, epoch). */
  receivedAt: number[];
  /** CPU (user + system) of this process since the last mark, in ms. */
  cpuMs: number;
  rssBytes: number;
}

const quiet: Logger = {
  debug() {},
  info() {},
  warn() {},
  error(msg, fields) {
    process.stderr.write(`worker: ${msg} ${JSON.stringify(fields ?? {})}\n`);
  },
  enabled: () => false,
  child: () => quiet,
};

interface Simulated {
  store: StateStore;
  version: number;
  acceptedAt: number;
  receivedAt: number;
}

const simulated: Simulated[] = [];
let cpuMark = process.cpuUsage();
let waiting: { version: number } | undefined;

function report(version: number): void {
  const cpu = process.cpuUsage(cpuMark);
  const message: WorkerReport = {
    type: 'synced',
    version,
    acceptedAt: simulated.map((client) => client.acceptedAt),
    receivedAt: simulated.map((client) => client.receivedAt),
    cpuMs: (cpu.user + cpu.system) / 1000,
    rssBytes: process.memoryUsage.rss(),
  };
  process.send!(message);
}

function check(): void {
  if (waiting && simulated.every((client) => client.version >= waiting!.version)) {
    const { version } = waiting;
    waiting = undefined;
    report(version);
  }
}

process.on('message', (command: WorkerCommand) => {
  if (command.type === 'mark') {
    cpuMark = process.cpuUsage();
  } else if (command.type === 'await') {
    waiting = { version: command.version };
    check();
  } else {
    // Every client counts from the start (a queued one holds no version yet), and is started in turn.
    const queue = command.clients.map((client) => simulate(command, client, () => queue.shift()?.()));
    for (const start of queue.splice(0, command.concurrency)) start();
  }
});

/**
 * One simulated ztunnel, counted at once; the function returned starts it. `onFirst` is called once it has
 * accepted its first snapshot.
 */
function simulate(
  command: WorkerStart,
  { node, token }: { node: string; token: string },
  onFirst: () => void,
): () => void {
  const client: Simulated = { store: new StateStore(), version: 0, acceptedAt: 0, receivedAt: 0 };
  simulated.push(client);
  return () =>
    // As the ztunnel app does: each response goes to the store as changes, validated by what it brings.
    ztunnelDiscovery({
      connection: { address: command.address, rootCertPem: command.rootCertPem, token },
      node,
      store: client.store,
      log: quiet,
      // Told once the response is in the store and its ACK written.
      onApplied: (timing) => {
        if (client.version === 0) onFirst();
        client.receivedAt = timing.receivedAt;
        client.acceptedAt = timing.appliedAt;
        client.version = Number(timing.version);
        check();
      },
    }).start();
}
process.on('disconnect', () => process.exit(0));

/**
 * The kube-proxy of one node: follows the cluster's Services and ready endpoints and keeps the node's
 * nftables table in step, one atomic `nft -f` per change (nothing is applied when the rules did not
 * change; the first apply of a process replaces the table whole). A failed apply is retried; the previous
 * rules stay in force meanwhile (a failed transaction changes nothing).
 */
import type { Logger } from '../../core/log.ts';
import { run } from '../run.ts';
import type { ServiceView } from '../services/endpoints.ts';
import { type KubeProxyTable, kubeProxyScript, kubeProxyTable, type NodeAddresses } from './rules.ts';

const RETRY_MS = 1_000;

/** kube-proxy's `--healthz-bind-address` port: listening once the first rules are in place. */
export const KUBE_PROXY_HEALTH_PORT = 10256;

export class KubeProxy {
  readonly #node: NodeAddresses;
  readonly #log: Logger;
  #applied: KubeProxyTable | undefined;
  #wanted: readonly ServiceView[] = [];
  #running: Promise<void> | undefined;
  #again = false;
  #retry: NodeJS.Timeout | undefined;
  #markApplied!: () => void;
  /** Settles once rules were applied the first time. */
  readonly applied = new Promise<void>((resolve) => {
    this.#markApplied = resolve;
  });

  constructor(node: NodeAddresses, log: Logger) {
    this.#node = node;
    this.#log = log;
  }

  /** Brings the rules to `services` (applies run one at a time; the latest wanted state wins). */
  sync(services: readonly ServiceView[]): Promise<void> {
    this.#wanted = services;
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  stop(): void {
    if (this.#retry) clearTimeout(this.#retry);
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      const table = kubeProxyTable(this.#wanted, this.#node);
      if (table.definition === this.#applied?.definition) continue;
      try {
        await run(['nft', '-f', '-'], { input: kubeProxyScript(this.#applied, table) });
        this.#applied = table;
        this.#markApplied();
        this.#log.info('rules applied', {
          services: this.#wanted.length,
          endpoints: countEndpoints(this.#wanted),
        });
      } catch (error) {
        // The table is in an unknown state: the next attempt replaces it whole.
        this.#applied = undefined;
        this.#log.error('cannot apply the rules; retrying', { error: (error as Error).message });
        this.#retry ??= setTimeout(() => {
          this.#retry = undefined;
          void this.sync(this.#wanted);
        }, RETRY_MS);
      }
    } while (this.#again);
  }
}

function countEndpoints(services: readonly ServiceView[]): number {
  return services.reduce(
    (sum, service) => sum + service.ports.reduce((ports, port) => ports + port.endpoints.length, 0),
    0,
  );
}

/**
 * The graph's source on a cluster without Prometheus: the dashboard scrapes the mesh's own metrics
 * endpoints itself (every ztunnel's and every waypoint's and gateway's `/stats/prometheus` on 15020, the
 * targets and labels of the local Prometheus' scrape config), keeps a minute of scrapes per target, and
 * answers the graph's queries from the first and last of them (evaluate.ts).
 *
 * The cluster's addresses are not routable from the host (guard routes), so each connection is made from
 * inside the target's node namespace, as `ambit local port-forward` reaches pods. The targets are re-read
 * from the cluster record at every round, so waypoints deployed later are scraped too.
 */
import http from 'node:http';
import { errorMessage } from '../core/errors.ts';
import { Netns, startTcpConnect } from '../core/sys/netns-socket.ts';
import { SCRAPE_INTERVAL_SECONDS, type ScrapeJob, scrapeTargets } from '../local/prometheus/scrape-config.ts';
import type { ClusterState } from '../local/types.ts';
import { evaluate, seriesRates, type TargetScrape, withTargetLabels } from './evaluate.ts';
import { parseExposition } from './exposition.ts';
import type { GraphInputs } from './graph.ts';
import { GRAPH_SERIES, RATE_WINDOW_SECONDS } from './queries.ts';

/** The jobs whose metrics the graph reads (the control plane serves none of Istio's traffic metrics). */
const GRAPH_JOBS: readonly ScrapeJob[] = ['ztunnel', 'waypoint', 'gateway'];
const METRICS_PATH = '/stats/prometheus';
/** A ztunnel's metrics are tens of KiB; more than this is not an endpoint of ours. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const SCRAPE_TIMEOUT_MS = (SCRAPE_INTERVAL_SECONDS - 1) * 1000;
/** The second scrape comes soon after the first, so that the graph has rates within seconds of starting. */
const FIRST_RATE_AFTER_MS = 1000;

export interface MeshTarget {
  job: ScrapeJob;
  /** `ip:port`, as Prometheus names a target. */
  instance: string;
  ip: string;
  port: number;
  /** The node namespace the connection is made from. */
  netnsPath: string;
  /** Target labels: job, instance and the scrape config's (namespace, pod, app, node). */
  labels: Record<string, string>;
}

export interface TargetStatus {
  job: ScrapeJob;
  instance: string;
  pod: string;
  up: boolean;
  error?: string | undefined;
}

/** What to scrape in `cluster`: the scrape config's targets of the graph's jobs, each with its node's netns. */
export function meshTargets(cluster: ClusterState): MeshTarget[] {
  const groups = scrapeTargets(cluster);
  return GRAPH_JOBS.flatMap((job) =>
    groups[job].flatMap((group) => {
      const node = cluster.nodes.find((n) => n.name === group.labels.node);
      if (!node) return [];
      return group.targets.map((instance) => {
        const colon = instance.lastIndexOf(':');
        return {
          job,
          instance,
          ip: instance.slice(0, colon),
          port: Number(instance.slice(colon + 1)),
          netnsPath: node.netnsPath,
          labels: { job, instance, ...group.labels },
        };
      });
    }),
  );
}

/** GETs a target's metrics from inside its node's namespace; bounded in time and size. */
export function fetchMetrics(target: MeshTarget, timeoutMs = SCRAPE_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      method: 'GET',
      host: target.ip,
      port: target.port,
      path: METRICS_PATH,
      createConnection: () => {
        const netns = Netns.open(target.netnsPath);
        try {
          return startTcpConnect(netns, { address: target.ip, port: target.port });
        } finally {
          // The socket was created inside the namespace; the fd is not needed past that.
          netns.close();
        }
      },
    });
    const timer = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('response', (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        request.destroy(new Error(`HTTP ${response.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) request.destroy(new Error(`more than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end();
  });
}

interface TargetHistory {
  target: MeshTarget;
  scrapes: TargetScrape[];
  status: TargetStatus;
}

export class MeshScraper {
  readonly #cluster: () => ClusterState;
  readonly #history = new Map<string, TargetHistory>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #rounds = 0;

  /** `cluster` reads the cluster record afresh (its pods change while it runs). */
  constructor(cluster: () => ClusterState) {
    this.#cluster = cluster;
  }

  start(): void {
    const round = (nextInMs: number) => {
      void this.scrapeOnce().finally(() => {
        if (!this.#closed) this.#timer = setTimeout(() => round(SCRAPE_INTERVAL_SECONDS * 1000), nextInMs);
      });
    };
    round(FIRST_RATE_AFTER_MS);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  /** One round: every target at once; a minute of scrapes kept per target, targets that left forgotten. */
  async scrapeOnce(): Promise<void> {
    const targets = meshTargets(this.#cluster());
    const keys = new Set(targets.map((t) => `${t.job}/${t.instance}/${t.labels.pod}`));
    for (const key of this.#history.keys()) if (!keys.has(key)) this.#history.delete(key);
    await Promise.all(
      targets.map(async (target) => {
        const key = `${target.job}/${target.instance}/${target.labels.pod}`;
        let history = this.#history.get(key);
        if (!history) {
          history = { target, scrapes: [], status: statusOf(target, false, 'not scraped yet') };
          this.#history.set(key, history);
        }
        try {
          const samples = parseExposition(await fetchMetrics(target));
          const time = Date.now();
          history.scrapes.push({ time, samples: withTargetLabels(samples, target.labels) });
          const oldest = time - RATE_WINDOW_SECONDS * 1000;
          while (history.scrapes.length > 2 && history.scrapes[1]!.time <= oldest) history.scrapes.shift();
          history.status = statusOf(target, true);
        } catch (error) {
          history.status = statusOf(target, false, errorMessage(error));
        }
      }),
    );
    this.#rounds++;
  }

  /** Scrape rounds completed. */
  get rounds(): number {
    return this.#rounds;
  }

  /** The graph's inputs: each query over the rates of every target with two scrapes or more. */
  inputs(): GraphInputs {
    const rates = [...this.#history.values()].flatMap(({ scrapes }) =>
      scrapes.length >= 2 ? seriesRates(scrapes[0]!, scrapes.at(-1)!) : [],
    );
    return Object.fromEntries(
      Object.entries(GRAPH_SERIES).map(([name, query]) => [name, evaluate(query, rates)]),
    ) as unknown as GraphInputs;
  }

  targets(): TargetStatus[] {
    return [...this.#history.values()].map((h) => h.status);
  }
}

function statusOf(target: MeshTarget, up: boolean, error?: string): TargetStatus {
  return { job: target.job, instance: target.instance, pod: target.labels.pod ?? '', up, error };
}

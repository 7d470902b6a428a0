/** Prometheus' HTTP API, as the dashboard reads it: instant queries, each bounded in time. */

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

const QUERY_TIMEOUT_MS = 5000;

export class PrometheusApi {
  readonly #base: string;

  /** `base`: e.g. `http://127.0.0.1:40123` (a port forward into the Prometheus pod). */
  constructor(base: string) {
    this.#base = base;
  }

  async query(promql: string): Promise<PromSample[]> {
    const response = await fetch(`${this.#base}/api/v1/query?query=${encodeURIComponent(promql)}`, {
      signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
    });
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: PromSample[] };
    };
    if (body.status !== 'success' || body.data?.resultType !== 'vector') {
      throw new Error(`Prometheus refused ${promql}: ${body.error ?? body.data?.resultType}`);
    }
    return body.data.result;
  }

  /** Every query of `queries` at once, answered by name. */
  async queryAll<K extends string>(queries: Record<K, string>): Promise<Record<K, PromSample[]>> {
    const names = Object.keys(queries) as K[];
    const results = await Promise.all(names.map((name) => this.query(queries[name])));
    return Object.fromEntries(names.map((name, index) => [name, results[index]])) as Record<K, PromSample[]>;
  }
}

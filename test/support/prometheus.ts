/**
 * Reaching a local cluster's Prometheus from a test as a user would: through `ambit local port-forward`
 * (a child process, killed by `killAll()`), then its HTTP API.
 */
import type { ChildProcess } from 'node:child_process';
import { startAmbit } from './cli.ts';
import { eventually } from './eventually.ts';

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusClient {
  /** `host:port` of the forward. */
  address: string;
  /** An instant query; the vector it returns. */
  query(promql: string): Promise<PromSample[]>;
  forward: ChildProcess;
}

/** Starts `ambit local port-forward prometheus 0:9090` and waits for its listening line. */
export async function forwardPrometheus(stateRoot: string, cluster: string): Promise<PrometheusClient> {
  const { child } = startAmbit(['local', 'port-forward', 'prometheus', '0:9090', '--name', cluster], {
    stateRoot,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const address = await eventually(() => /^Forwarding from (\S+) ->/m.exec(output)?.[1], {
    what: 'the port forward to listen',
  });
  return {
    address,
    forward: child,
    async query(promql) {
      const response = await fetch(`http://${address}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await response.json()) as {
        status: string;
        error?: string;
        data: { result: PromSample[] };
      };
      if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
      return body.data.result;
    },
  };
}

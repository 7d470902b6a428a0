/**
 * Reaching a local cluster's Prometheus from a test as a user would: through `ambit local port-forward`
 * (a child process, killed by `killAll()`), then its HTTP API with the dashboard's own client.
 */
import { PrometheusApi } from '../../src/dashboard/prometheus.ts';
import { startAmbit } from './cli.ts';
import { eventually } from './eventually.ts';

export interface ForwardedPrometheus {
  /** `host:port` of the forward. */
  address: string;
  api: PrometheusApi;
}

/** Starts `ambit local port-forward prometheus 0:9090` and waits for its listening line. */
export async function forwardPrometheus(stateRoot: string, cluster: string): Promise<ForwardedPrometheus> {
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
  return { address, api: new PrometheusApi(`http://${address}`) };
}

/**
 * `ambit kube-proxy`: the local cluster's kube-proxy for one node: Service VIPs and NodePorts as nftables
 * rules in the node's namespace, kept in step with the cluster's ready endpoints. Once the first rules are in
 * place it answers `GET /healthz` on 10256 (kube-proxy's health port), which is what makes it ready.
 */
import { UsageError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { readinessHandler, serveHttp } from '../../core/server/http.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import { KUBE_PROXY_HEALTH_PORT, KubeProxy } from '../../local/kube-proxy/proxy.ts';
import { watchClusterServices } from '../../local/services/watch.ts';
import { readClusterState, statePaths } from '../../local/state.ts';
import { parseDaemonArgs } from '../daemon-args.ts';

const USAGE = `Usage: ambit kube-proxy --state-dir DIR --node NAME

Keeps table ip ambit_kube_proxy of this network namespace (run it in node NAME's) in step with the Services
and ready endpoints of the local cluster whose state is in DIR: ClusterIP and NodePort DNAT to a random
ready endpoint (or the client's last one with sessionAffinity: ClientIP). Health: GET /healthz on ${KUBE_PROXY_HEALTH_PORT}.
`;

export async function run(argv: string[]): Promise<number> {
  const values = parseDaemonArgs(argv, ['state-dir', 'node'], USAGE);
  if (!values) return 0;
  if (!values['state-dir'] || !values.node) throw new UsageError('missing --state-dir or --node', USAGE);
  const paths = statePaths(values['state-dir']);
  const node = readClusterState(paths)?.nodes.find((candidate) => candidate.name === values.node);
  if (!node) throw new UsageError(`no node ${values.node} in the cluster recorded in ${paths.dir}`);
  const log = createLogger('kube-proxy');
  const proxy = new KubeProxy({ underlayIP: node.underlayIP, podCIDR: node.podCIDR }, log);
  const watch = watchClusterServices(paths, log, (services) => void proxy.sync(services.services));
  void proxy.sync(watch.current().services);
  await proxy.applied;
  // Listening only once the first rules are in place: that is what makes the process ready.
  const health = await serveHttp(
    readinessHandler(() => ({ ready: true }), '/healthz'),
    { host: '127.0.0.1', port: KUBE_PROXY_HEALTH_PORT },
  );
  await stopSignal();
  watch.close();
  proxy.stop();
  await health.close();
  return 0;
}

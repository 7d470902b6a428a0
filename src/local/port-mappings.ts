/**
 * The cluster file's port mappings (`spec.portMappings`), kind's `extraPortMappings` for the local cluster: a
 * port on the host's loopback carried to a pod's port, as `ambit local port-forward` does, but opened by
 * the supervisor for as long as the cluster runs, so a gateway is at `http://127.0.0.1:8080/` right after
 * `up`. A mapping names the pod (`<gateway>-0` for a Gateway API gateway, `istio-ingressgateway-0` in
 * `istio-system` for Istio's classic one); it opens once that pod exists (gateway pods come after the
 * control plane) and connections reach whatever listens on the pod's port at the time. Loopback only: the
 * cluster's ranges stay unroutable from the host, and nothing is exposed beyond this machine.
 */
import { errorMessage } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { type ClusterExtension, type ExtensionContext, perContext } from './extensions.ts';
import { type PortForward, startPortForward } from './port-forward.ts';

const log = createLogger('local.port-mappings');

/** The supervisor's side: opens each mapping once its pod exists, closes them all when it stops. */
class PortMappings {
  readonly #context: ExtensionContext;
  readonly #open = new Map<string, Promise<PortForward | undefined>>();

  constructor(context: ExtensionContext) {
    this.#context = context;
  }

  reconcile(): void {
    for (const mapping of this.#context.cluster.portMappings ?? []) {
      const key = `${mapping.listenAddress}:${mapping.hostPort}`;
      if (this.#open.has(key)) continue;
      const pod = this.#context.cluster.pods.find(
        (candidate) => candidate.namespace === mapping.namespace && candidate.name === mapping.pod,
      );
      if (pod === undefined) continue;
      const target = `${mapping.namespace}/${mapping.pod}:${mapping.podPort}`;
      const opening = startPortForward({
        netnsPath: pod.netnsPath,
        mapping: { hostPort: mapping.hostPort, podPort: mapping.podPort },
        localHost: mapping.listenAddress,
      }).then(
        (forward) => {
          log.info('port mapping open', { address: forward.address, target });
          return forward;
        },
        (error: unknown) => {
          // Not retried: a host port someone else holds stays taken; the log says which.
          log.error('port mapping cannot open', { address: key, target, error: errorMessage(error) });
          return undefined;
        },
      );
      this.#open.set(key, opening);
    }
  }

  async close(): Promise<void> {
    const forwards = await Promise.all(this.#open.values());
    this.#open.clear();
    await Promise.all(forwards.map((forward) => forward?.close()));
  }
}

const perCluster = perContext((context) => new PortMappings(context));

export const extension: ClusterExtension = {
  name: 'port-mappings',

  async processChanged(_process, context) {
    perCluster.get(context).reconcile();
  },

  async stop(context) {
    await perCluster.drop(context)?.close();
  },
};

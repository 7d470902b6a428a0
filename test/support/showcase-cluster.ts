/**
 * The small mesh the explain and dashboard tests look at: `apps` in the mesh (client, echo), `web` in the
 * mesh behind its waypoint (echo), and `outside`, not in the mesh (stranger), each echo with its Service.
 */
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import { clusterDoc, echoPod, manifests, namespaceDoc, podDoc, serviceDoc } from './manifests.ts';

export interface ShowcaseOptions {
  prometheus?: boolean;
  /** What the client and the stranger run (default: nothing, they sleep). */
  clientCommand?: string[];
  strangerCommand?: string[];
  extra?: object[];
}

export function showcaseCluster(name: string, options: ShowcaseOptions = {}): string {
  return manifests(
    clusterDoc(name, options.prometheus ? { spec: { prometheus: true } } : {}),
    namespaceDoc('apps', { ambient: true }),
    namespaceDoc('web', { ambient: true, labels: { 'istio.io/use-waypoint': 'waypoint' } }),
    namespaceDoc('outside'),
    waypointGateway('waypoint', 'web', 'service'),
    echoPod('echo', { namespace: 'apps', node: 'n2', labels: { app: 'echo' } }),
    echoPod('echo', { namespace: 'web', node: 'n2', labels: { app: 'echo' } }),
    podDoc('client', {
      namespace: 'apps',
      node: 'n1',
      serviceAccount: 'client',
      ...(options.clientCommand ? { command: options.clientCommand } : {}),
    }),
    podDoc('stranger', {
      namespace: 'outside',
      node: 'n1',
      ...(options.strangerCommand ? { command: options.strangerCommand } : {}),
    }),
    serviceDoc('echo', { namespace: 'apps' }),
    serviceDoc('echo', { namespace: 'web' }),
    ...(options.extra ?? []),
  );
}

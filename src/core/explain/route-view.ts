/**
 * One description of a compiled route for `ambit explain` and the dashboard's services table, so that the
 * two never tell a route differently.
 */
import type { Route, RouteTable } from '../l7/types.ts';
import type { RouteInfo } from './route-info.ts';

/** A compiled route as explain and the dashboard show it: where it came from, its weighted backends. */
export function routeInfo(table: RouteTable, route: Route): RouteInfo {
  const { origin, action } = route;
  return {
    kind: origin.kind,
    namespace: origin.namespace,
    name: origin.name,
    rule: origin.rule,
    action: action.kind,
    backends:
      action.kind === 'forward'
        ? action.backends.map((backend) => {
            if (backend.kind !== 'cluster')
              return { cluster: `invalid (${backend.reason})`, weight: backend.weight };
            const cluster = table.clusters.find((c) => c.name === backend.cluster);
            return {
              cluster: backend.cluster,
              weight: backend.weight,
              subset: cluster?.subset || undefined,
              destinationRule: cluster?.destinationRule,
            };
          })
        : [],
  };
}

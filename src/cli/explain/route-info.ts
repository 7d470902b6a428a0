/**
 * A route as `ambit explain` and the dashboard's services table show it (trace.ts `routeInfo` makes it from
 * a compiled route). Types only, so that the dashboard's page can name them without the data plane's code.
 */

export interface RouteInfo {
  kind: string;
  namespace: string;
  name: string;
  rule: number;
  /** forward, redirect or direct response. */
  action: string;
  backends: RouteBackend[];
}

export interface RouteBackend {
  cluster: string;
  weight: number;
  /** The DestinationRule subset the backend names, if any. */
  subset?: string | undefined;
  /** The DestinationRule (namespace/name) whose policy applies to the backend, if one does. */
  destinationRule?: string | undefined;
}

/**
 * A route as `ambit explain` and the dashboard's services table show it (`routeInfo` in route-view.ts
 * makes it from a compiled route). Types only, importing nothing, so that the dashboard's page (a browser
 * build) can name them without the data plane's code.
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

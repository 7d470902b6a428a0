/**
 * One connection as a ztunnel's admin `/connections` lists it: what the ztunnel writes and what the CLI and
 * the dashboard read back. Types only, importing nothing, so that the dashboard's page (a browser build, which
 * cannot compile the ztunnel) shares them instead of keeping a copy.
 */

/** outbound: app -> mesh; inbound: HBONE -> app; inbound-plaintext: non-mesh client -> app (15006). */
export type Direction = 'outbound' | 'inbound' | 'inbound-plaintext';

/** Kind of upstream on outbound: over HBONE (possibly via a waypoint) or straight (passthrough). */
export type ConnectionMode = 'hbone' | 'waypoint' | 'passthrough' | 'direct';

export interface ConnectionListing {
  id: number;
  direction: Direction;
  mode: ConnectionMode;
  source: string;
  destination: string;
  hboneTarget?: string | undefined;
  sourceWorkload?: string | undefined;
  sourceIdentity?: string | undefined;
  destinationWorkload?: string | undefined;
  destinationService?: string | undefined;
  destinationIdentity?: string | undefined;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
}

/**
 * The access log: one line per proxied connection when it ends (info when it got through, warn when it did
 * not), subscribed to the tracker's close events.
 */
import type { Logger } from '../../core/log.ts';
import { type ConnectionTracker, listing } from './connections.ts';

/** Logs every connection `tracker` closes to `access`; returns the unsubscribe function. */
export function logConnections(tracker: ConnectionTracker, access: Logger): () => void {
  return tracker.subscribe({
    closed: ({ connection, outcome: failure, reason: error }) => {
      const entry = listing(connection, Date.now());
      const fields: Record<string, unknown> = {
        direction: entry.direction,
        mode: entry.mode,
        'src.addr': entry.source,
        'src.workload': entry.sourceWorkload,
        'src.identity': entry.sourceIdentity,
        'dst.addr': entry.destination,
        'dst.hbone_addr': entry.hboneTarget,
        'dst.service': entry.destinationService,
        'dst.workload': entry.destinationWorkload,
        'dst.identity': entry.destinationIdentity,
        bytes_sent: entry.bytesSent,
        bytes_recv: entry.bytesReceived,
        duration_ms: entry.durationMs,
        result: failure === undefined && !error ? 'ok' : failure === 'Denied' ? 'denied' : 'failed',
        error,
      };
      for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key];
      if (fields.result === 'ok') access.info('connection complete', fields);
      else access.warn('connection complete', fields);
    },
  });
}

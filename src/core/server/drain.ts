/**
 * One drain for every listener (HBONE today, the waypoint's and gateways' HTTP next): stop accepting, ask
 * each live session to finish (for HTTP/2 `close()` sends GOAWAY and lets open streams run to their end),
 * wait for them, and cut what is still open at the deadline. A deadline of 0 cuts at once. Stopping the
 * listener is the caller's first step (`server.close()`), before it drains what the listener accepted.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { abort } from '../net/splice.ts';

/** What a session must offer to be drained: `Http2Session` has it; a socket wraps into it. */
export interface DrainableSession {
  /** Finish gracefully: take no new work, let what runs end. */
  close(): void;
  /** Cut now (reset). */
  destroy(): void;
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

export interface DrainResult {
  /** Sessions that ended on their own before the deadline. */
  finished: number;
  /** Sessions cut at the deadline. */
  cut: number;
}

export async function drainSessions(
  sessions: Iterable<DrainableSession>,
  deadlineMs: number,
): Promise<DrainResult> {
  const live = [...sessions].filter((session) => !session.destroyed);
  if (live.length === 0) return { finished: 0, cut: 0 };
  if (deadlineMs <= 0) {
    for (const session of live) session.destroy();
    return { finished: 0, cut: live.length };
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
  });
  const closed = new Set<DrainableSession>();
  const allClosed = Promise.all(
    live.map(
      (session) =>
        new Promise<void>((resolve) => {
          session.once('close', () => {
            closed.add(session);
            resolve();
          });
          session.close();
        }),
    ),
  );
  await Promise.race([allClosed, deadline]);
  clearTimeout(timer);
  const remaining = live.filter((session) => !closed.has(session));
  for (const session of remaining) session.destroy();
  return { finished: live.length - remaining.length, cut: remaining.length };
}

/**
 * A plain TCP connection as a session: it has no GOAWAY, so it finishes when its ends close it; cutting it
 * resets it (the peer sees a reset, not a clean end).
 */
export function socketSession(socket: Socket): DrainableSession {
  return {
    close: () => {},
    destroy: () => abort(socket),
    get destroyed() {
      return socket.destroyed;
    },
    once: (event, listener) => socket.once(event, listener),
  };
}

/** Adds drain results up (several listeners drained at once). */
export function totalDrained(results: readonly DrainResult[]): DrainResult {
  return results.reduce((sum, r) => ({ finished: sum.finished + r.finished, cut: sum.cut + r.cut }), {
    finished: 0,
    cut: 0,
  });
}

/**
 * How long a demo app asked to stop lets its requests in progress finish: well inside a pod's default grace
 * period (30 s), after which the runtime kills it anyway.
 */
export const APP_STOP_GRACE_MS = 10_000;

/** How often a closing HTTP server closes connections that went idle since it last looked. */
const IDLE_SWEEP_MS = 50;

/**
 * Closes an HTTP/1.1 server the way an app asked to stop should: take no new connection, let requests in
 * progress run to their end, close each keep-alive connection once it is idle, and cut what is still busy at
 * the deadline. Cutting at once (what `closeAllConnections` does) resets a request that was routed here just
 * before the endpoint was withdrawn: the client sees "connection reset" during a rolling update.
 */
export async function closeHttpServer(server: HttpServer, deadlineMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // close() closes the connections idle at that moment; a busy one becomes idle when its response ends.
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
  });
  try {
    await Promise.race([closed, deadline]);
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }
  server.closeAllConnections();
  await closed;
}

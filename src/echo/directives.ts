/**
 * What an echo request asks for in its query string: `status=503` (answer with that status),
 * `delay=200ms` (answer late), `size=1048576` (answer with that many bytes instead of the report), `close`
 * or `close=reset` (hang up without answering: FIN, or RST); `fail-every=2` (only every 2nd request that
 * carries it gets `status`, default 503: a flaky upstream; the others answer 200), `only=<pod>` (the
 * directives apply on that pod alone; other pods answer plainly: one bad replica behind a Service).
 * Parsing is pure, so it is tested as a unit.
 */
import { parseDuration } from '../core/config/duration.ts';

export interface EchoDirectives {
  status: number;
  delayMs: number;
  /** Body size in bytes; undefined means "the JSON report". */
  size?: number | undefined;
  close?: 'fin' | 'reset' | undefined;
  /** Only the n-th, 2n-th... request carrying it fails (with `status`); the others answer 200. */
  failEvery?: number | undefined;
  /** The pod the directives apply on; any other pod ignores them. */
  only?: string | undefined;
}

/** Longest delay a request may ask for (a test that wants longer is probably stuck). */
export const MAX_DELAY_MS = 10 * 60_000;

export function parseDirectives(query: URLSearchParams): EchoDirectives | { error: string } {
  const directives: EchoDirectives = { status: 200, delayMs: 0 };
  const status = query.get('status');
  if (status !== null) {
    const code = Number(status);
    if (!/^\d{3}$/.test(status) || code < 200 || code > 599) {
      return { error: `status=${status}: give an HTTP status from 200 to 599` };
    }
    directives.status = code;
  }
  const delay = query.get('delay');
  if (delay !== null) {
    const ms = parseDuration(delay);
    if (ms === undefined || ms > MAX_DELAY_MS) {
      return { error: `delay=${delay}: give a duration up to 10m, such as 200ms or 1.5s` };
    }
    directives.delayMs = ms;
  }
  const size = query.get('size');
  if (size !== null) {
    const bytes = Number(size);
    if (!/^\d+$/.test(size) || !Number.isSafeInteger(bytes))
      return { error: `size=${size}: give a number of bytes` };
    directives.size = bytes;
  }
  const close = query.get('close');
  if (close !== null) {
    if (['', '1', 'true', 'fin'].includes(close)) directives.close = 'fin';
    else if (close === 'reset') directives.close = 'reset';
    else return { error: `close=${close}: use close (or close=fin) to hang up, close=reset to reset` };
  }
  const failEvery = query.get('fail-every');
  if (failEvery !== null) {
    const every = Number(failEvery);
    if (!/^\d+$/.test(failEvery) || every < 1 || !Number.isSafeInteger(every))
      return { error: `fail-every=${failEvery}: give a whole number of requests, 1 or more` };
    directives.failEvery = every;
    if (status === null) directives.status = 503;
  }
  const only = query.get('only');
  if (only !== null) directives.only = only;
  return directives;
}

/** The directives as they apply to the `count`-th request carrying `fail-every` on pod `pod`. */
export function directivesFor(directives: EchoDirectives, pod: string, count: number): EchoDirectives {
  if (directives.only !== undefined && directives.only !== pod) return { status: 200, delayMs: 0 };
  if (directives.failEvery !== undefined && count % directives.failEvery !== 0)
    return { ...directives, status: 200 };
  return directives;
}

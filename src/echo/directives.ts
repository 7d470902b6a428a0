/**
 * What an echo request asks for in its query string: `status=503` (answer with that status),
 * `delay=200ms` (answer late), `size=1048576` (answer with that many bytes instead of the report), `close`
 * or `close=reset` (hang up without answering: FIN, or RST). Parsing is pure, so it is tested as a unit.
 */
import { parseDuration } from '../core/config/duration.ts';

export interface EchoDirectives {
  status: number;
  delayMs: number;
  /** Body size in bytes; undefined means "the JSON report". */
  size?: number | undefined;
  close?: 'fin' | 'reset' | undefined;
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
  return directives;
}

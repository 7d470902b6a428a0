/**
 * The limits of an HBONE listener as flags, one table that `ambit ztunnel` and `ambit waypoint run` both
 * take (the listener is the same code in both, `src/core/hbone/server.ts`), with the TLS handshake timeout.
 */
import { DEFAULT_HBONE_SERVER_LIMITS, type HboneServerLimits } from '../core/hbone/limits.ts';
import { DEFAULT_HBONE_TIMEOUTS } from '../core/hbone/settings.ts';
import type { LimitFlag } from './limit-flags.ts';

export type HboneLimitKey = keyof HboneServerLimits | 'handshakeMs';

export const HBONE_LIMIT_FLAGS = [
  {
    flag: 'max-streams-per-connection',
    key: 'maxStreamsPerConnection',
    unit: 'count',
    help: 'concurrent CONNECT streams on one HBONE connection (SETTINGS_MAX_CONCURRENT_STREAMS)',
  },
  {
    flag: 'max-streams-per-identity',
    key: 'maxStreamsPerIdentity',
    unit: 'count',
    help: 'concurrent streams of one peer identity, over all its connections',
  },
  {
    flag: 'max-connections-per-source',
    key: 'maxConnectionsPerSourceIp',
    unit: 'count',
    help: 'open connections from one source IP to one listener',
  },
  {
    flag: 'max-handshakes',
    key: 'maxHandshakes',
    unit: 'count',
    help: 'connections still in their TLS handshake, per HBONE listener',
  },
  {
    flag: 'max-handshake-rate-per-source',
    key: 'maxHandshakesPerSourcePerSecond',
    unit: 'count',
    help: 'TLS handshakes one source IP may start per second, per HBONE listener',
  },
  {
    flag: 'handshake-timeout',
    key: 'handshakeMs',
    unit: 'duration',
    help: 'TLS handshake, and the time to the first CONNECT',
  },
  {
    flag: 'hbone-idle-timeout',
    key: 'sessionIdleMs',
    unit: 'duration',
    help: 'an HBONE connection without streams is closed after',
  },
] as const satisfies readonly LimitFlag<HboneLimitKey>[];

/** The defaults the table documents. */
export const HBONE_LIMIT_DEFAULTS: Readonly<Record<HboneLimitKey, number>> = {
  ...DEFAULT_HBONE_SERVER_LIMITS,
  handshakeMs: DEFAULT_HBONE_TIMEOUTS.handshakeMs,
};

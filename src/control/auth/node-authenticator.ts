/**
 * Who is calling: every data-plane call carries `authorization: Bearer <token>`, and an authenticator turns
 * it into the caller: the node it runs on and, when the credential is one workload's rather than a node
 * agent's, that workload (a waypoint). Locally the tokens are the per-node files `ambit local up` creates
 * (`src/core/node-credentials.ts`). On Kubernetes the same interface is implemented by a TokenReview of the
 * caller's projected service-account token (token-review.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Metadata } from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { type Clock, systemClock } from '../../core/clock.ts';
import { AmbitError } from '../../core/errors.ts';
import { AUTHORIZATION_METADATA } from '../../core/grpc/credentials.ts';

/** A waypoint that called with its own pod's credential: it proves this one identity and nothing more. */
export interface WaypointCaller {
  namespace: string;
  /** The Gateway the pod is an instance of. */
  name: string;
  serviceAccount: string;
  pod: string;
}

export interface Caller {
  node: string;
  /**
   * Set when the credential is a waypoint pod's own: the caller may subscribe only as that waypoint and
   * obtain only its identity. Unset: a node agent, scoped by the pods of its node.
   */
  waypoint?: WaypointCaller | undefined;
}

export interface NodeAuthenticator {
  /** The caller; throws AuthenticationError if the credential is missing or unknown. */
  authenticate(metadata: Metadata): Promise<Caller>;
  /** Puts the authenticator's own metrics on the control plane's registry, if it has any. */
  registerMetrics?(registry: Registry): void;
}

export class AuthenticationError extends AmbitError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
    this.name = 'AuthenticationError';
  }
}

export function bearerToken(metadata: Metadata): string {
  const value = metadata.get(AUTHORIZATION_METADATA)[0];
  const text = typeof value === 'string' ? value : value?.toString('utf8');
  const match = text ? /^Bearer\s+(\S+)$/.exec(text) : null;
  if (!match)
    throw new AuthenticationError('missing node credential: send "authorization: Bearer <node token>"');
  return match[1]!;
}

/** How often, at most, the directory is checked for changes while every caller is known. */
const RELOAD_INTERVAL_MS = 1000;
/**
 * How often, at most, an unknown credential makes the directory be checked again: a node created right after
 * another is admitted within this, while a flood of bad tokens costs at most ten directory reads a second.
 */
const MISS_RELOAD_INTERVAL_MS = 100;

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Authenticates against the `<node>.token` files of a directory. The directory is read again when it changed
 * (checked at most once per second, or ten times a second while unknown credentials arrive), so credentials
 * created or removed while running take effect within a second, a new node's within 100 ms, however many calls
 * arrive.
 */
export class TokenFileAuthenticator implements NodeAuthenticator {
  private readonly directory: string;
  private readonly clock: Clock;
  private tokens: { node: string; digest: Buffer }[] = [];
  private loadedVersion: string | undefined;
  private lastCheck = Number.NEGATIVE_INFINITY;

  constructor(directory: string, clock: Clock = systemClock) {
    this.directory = directory;
    this.clock = clock;
  }

  async authenticate(metadata: Metadata): Promise<Caller> {
    const presented = digest(bearerToken(metadata));
    this.refresh(RELOAD_INTERVAL_MS);
    let found = this.match(presented);
    if (!found && this.refresh(MISS_RELOAD_INTERVAL_MS)) found = this.match(presented);
    if (!found) throw new AuthenticationError('unknown node credential');
    return { node: found };
  }

  private match(presented: Buffer): string | undefined {
    // Compare every entry in constant time, so that timing says nothing about which tokens exist.
    let node: string | undefined;
    for (const entry of this.tokens) if (timingSafeEqual(entry.digest, presented)) node = entry.node;
    return node;
  }

  /** Reloads the tokens if the directory changed, checking at most once per `intervalMs`; true if it checked. */
  private refresh(intervalMs: number): boolean {
    const now = this.clock.now();
    if (now - this.lastCheck < intervalMs) return false;
    this.lastCheck = now;
    let version: string;
    let files: string[];
    try {
      // The names as well as the mtime: mtime ticks coarsely (a few ms), so a change made right after a load
      // could leave it unchanged.
      files = readdirSync(this.directory).filter((file) => file.endsWith('.token'));
      version = `${statSync(this.directory).mtimeMs} ${files.sort().join(' ')}`;
    } catch {
      this.tokens = [];
      this.loadedVersion = undefined;
      return true;
    }
    if (version === this.loadedVersion) return true;
    const tokens: { node: string; digest: Buffer }[] = [];
    for (const file of files) {
      const token = readFileSync(join(this.directory, file), 'utf8').trim();
      if (token !== '') tokens.push({ node: file.slice(0, -'.token'.length), digest: digest(token) });
    }
    this.tokens = tokens;
    this.loadedVersion = version;
    return true;
  }
}

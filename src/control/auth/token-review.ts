/**
 * Node identity on Kubernetes, as istiod checks a ztunnel: the ztunnel sends its projected service-account
 * token (audience `ambit-control`); the control plane has the API server review it (a TokenReview naming
 * that audience, so a token minted for another service is refused), accepts only the ztunnel's own service
 * account, reads the pod the token is bound to from the review's `extra`
 * (`authentication.kubernetes.io/pod-name` / `pod-uid`), looks that pod up and takes its `spec.nodeName`.
 * The node is then what the CA and discovery scope the caller by (a node obtains only identities of pods on
 * it). A token that is not pod-bound (a legacy Secret token) has no node, so it is refused.
 *
 * Reviews are cached by the token's digest for a short while, refusals too: every discovery stream and CSR
 * authenticates, and a peer replaying a bad token must not turn each call into an API round trip.
 */
import { createHash } from 'node:crypto';
import { status as grpcStatus, type Metadata } from '@grpc/grpc-js';
import {
  AuthenticationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';
import { type Clock, systemClock } from '../../core/clock.ts';
import { errorMessage } from '../../core/errors.ts';
import { AuthenticationError, bearerToken, type NodeAuthenticator } from './node-authenticator.ts';

export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

export interface TokenReviewSettings {
  /** The audience the ztunnels' projected tokens are minted for. */
  audience: string;
  /** Service accounts (`namespace/name`) whose pods are node agents: the ztunnel's. */
  trustedAccounts: readonly string[];
  /** How long an outcome is reused (default 60 s). */
  cacheMs?: number | undefined;
  /** Most outcomes kept (default 1024); past it the oldest go first. */
  cacheEntries?: number | undefined;
}

/** What the review said, reduced to what decides: the caller's account and the pod the token is bound to. */
export interface ReviewedCaller {
  serviceAccount: string;
  podName: string;
  podUid: string;
}

/**
 * The decision on a review's status (pure): the bound pod of a trusted account for our audience, or the
 * reason for refusing.
 */
export function reviewedCaller(
  status: V1TokenReviewStatus | undefined,
  settings: Pick<TokenReviewSettings, 'audience' | 'trustedAccounts'>,
): ReviewedCaller | { refused: string } {
  if (status?.authenticated !== true) {
    return { refused: `the token was not authenticated${status?.error ? `: ${status.error}` : ''}` };
  }
  if (!(status.audiences ?? []).includes(settings.audience)) {
    return { refused: `the token is not for audience ${settings.audience}` };
  }
  const user = SERVICE_ACCOUNT_USER.exec(status.user?.username ?? '');
  if (!user) return { refused: `${status.user?.username ?? 'the caller'} is not a service account` };
  const serviceAccount = `${user[1]}/${user[2]}`;
  if (!settings.trustedAccounts.includes(serviceAccount)) {
    return { refused: `service account ${serviceAccount} is not a trusted node agent` };
  }
  const podName = status.user?.extra?.[POD_NAME_EXTRA]?.[0];
  const podUid = status.user?.extra?.[POD_UID_EXTRA]?.[0];
  if (!podName || !podUid) {
    return { refused: 'the token is not bound to a pod (use a projected service-account token)' };
  }
  return { serviceAccount, podName, podUid };
}

type Outcome = { node: string } | { refused: string };

export class TokenReviewAuthenticator implements NodeAuthenticator {
  readonly #settings: TokenReviewSettings;
  readonly #reviews: AuthenticationV1Api;
  readonly #pods: CoreV1Api;
  readonly #clock: Clock;
  readonly #cache = new Map<string, { outcome: Promise<Outcome>; until: number }>();

  constructor(config: KubeConfig, settings: TokenReviewSettings, clock: Clock = systemClock) {
    this.#settings = settings;
    this.#reviews = config.makeApiClient(AuthenticationV1Api);
    this.#pods = config.makeApiClient(CoreV1Api);
    this.#clock = clock;
  }

  async authenticate(metadata: Metadata): Promise<string> {
    const outcome = await this.#cached(bearerToken(metadata));
    if ('refused' in outcome) throw new AuthenticationError(`node credential refused: ${outcome.refused}`);
    return outcome.node;
  }

  #cached(token: string): Promise<Outcome> {
    const key = createHash('sha256').update(token).digest('base64');
    const now = this.#clock.now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.outcome;
    this.#cache.delete(key);
    const outcome = this.#review(token);
    this.#cache.set(key, { outcome, until: now + (this.#settings.cacheMs ?? 60_000) });
    // An API failure says nothing about the token: the next call asks again.
    outcome.catch(() => this.#cache.delete(key));
    const limit = this.#settings.cacheEntries ?? 1024;
    for (const oldest of this.#cache.keys()) {
      if (this.#cache.size <= limit) break;
      this.#cache.delete(oldest);
    }
    return outcome;
  }

  async #review(token: string): Promise<Outcome> {
    const { audience } = this.#settings;
    const review = await this.#unavailableOnFailure('TokenReview', () =>
      this.#reviews.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [audience] },
        },
      }),
    );
    const caller = reviewedCaller(review.status, this.#settings);
    if ('refused' in caller) return caller;
    const namespace = caller.serviceAccount.split('/')[0]!;
    const pod = await this.#unavailableOnFailure('reading the caller pod', () =>
      this.#pods.readNamespacedPod({ name: caller.podName, namespace }).catch((error: unknown) => {
        if ((error as { code?: number }).code === 404) return undefined;
        throw error;
      }),
    );
    if (pod === undefined || pod.metadata?.uid !== caller.podUid) {
      return { refused: `the token's pod ${namespace}/${caller.podName} no longer exists` };
    }
    if (!pod.spec?.nodeName) return { refused: `pod ${namespace}/${caller.podName} is not on a node` };
    return { node: pod.spec.nodeName };
  }

  /** An API that cannot answer is no verdict on the caller: UNAVAILABLE, which clients retry. */
  async #unavailableOnFailure<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw Object.assign(new Error(`${what} failed: ${errorMessage(error)}`), {
        code: grpcStatus.UNAVAILABLE,
      });
    }
  }
}

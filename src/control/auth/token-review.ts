/**
 * Caller identity on Kubernetes, as istiod checks a ztunnel: the caller sends its projected service-account
 * token (audience `ambit-control`); the control plane has the API server review it (a TokenReview naming
 * that audience, so a token minted for another service is refused), reads the pod the token is bound to from
 * the review's `extra` (`authentication.kubernetes.io/pod-name` / `pod-uid`), looks that pod up (same uid,
 * else the token outlived its pod) and takes its `spec.nodeName`. Then:
 *
 * - a trusted node account (the ztunnel's) is that node: the CA and discovery scope it by the pods on it;
 * - any other account must be a waypoint's own: its pod an instance of a Gateway of class `istio-waypoint`
 *   in its namespace (label `gateway.networking.k8s.io/gateway-name`, the Gateway present), running as the
 *   service account named like the Gateway (as the waypoint controller deploys it). It proves that one
 *   identity and that one waypoint, nothing more.
 *
 * A token that is not pod-bound (a legacy Secret token) has no pod, so it is refused.
 *
 * Outcomes are cached by the token's digest for a short while, refusals too, in two bounded maps (so a flood
 * of bad tokens cannot push out the callers that were admitted): every discovery stream and CSR
 * authenticates. An admission ends early when its pod is deleted (`forgetPod`, fed by the pod watch): a
 * token that outlives its pod must not keep the pod's node or identity for the rest of the cache's time. Reviews of tokens not in the cache are rate-limited (a token bucket): past it a caller is
 * told UNAVAILABLE (clients retry with backoff), so distinct junk tokens cannot turn the control plane into
 * an amplifier of API server load. Every review is counted by outcome.
 */
import { createHash } from 'node:crypto';
import { status as grpcStatus, type Metadata } from '@grpc/grpc-js';
import {
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Pod,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import { type Clock, systemClock } from '../../core/clock.ts';
import { errorMessage } from '../../core/errors.ts';
import { GATEWAY_NAME_LABEL, WAYPOINT_GATEWAY_CLASS } from '../../core/labels.ts';
import { type RateLimit, TokenBucket } from '../../core/token-bucket.ts';
import {
  AuthenticationError,
  bearerToken,
  type Caller,
  type NodeAuthenticator,
  type WaypointCaller,
} from './node-authenticator.ts';

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
  /** Most outcomes kept of each kind, admitted and refused (default 1024); past it the oldest go first. */
  cacheEntries?: number | undefined;
  /** TokenReviews of tokens not in the cache (default: 100 at once, then 50 a second). */
  reviewRate?: RateLimit | undefined;
}

export const DEFAULT_REVIEW_RATE: RateLimit = { burst: 100, perSecond: 50 };

/** What the review said, reduced to what decides: the caller's account and the pod the token is bound to. */
export interface ReviewedCaller {
  serviceAccount: string;
  podName: string;
  podUid: string;
  /** One of the trusted node accounts; otherwise the caller can only be a waypoint's pod. */
  nodeAgent: boolean;
}

/**
 * The decision on a review's status (pure): the bound pod of a service account for our audience, or the
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
  const podName = status.user?.extra?.[POD_NAME_EXTRA]?.[0];
  const podUid = status.user?.extra?.[POD_UID_EXTRA]?.[0];
  if (!podName || !podUid) {
    return { refused: 'the token is not bound to a pod (use a projected service-account token)' };
  }
  return { serviceAccount, podName, podUid, nodeAgent: settings.trustedAccounts.includes(serviceAccount) };
}

/**
 * Whether a caller that is not a node agent is a waypoint's own pod (pure): the pod (already checked to be
 * the token's, by uid) is an instance of an `istio-waypoint` Gateway of its namespace and runs as the
 * service account named like it. `gateway` is that Gateway as the API has it, undefined if it has none.
 */
export function waypointCallerOf(
  caller: Pick<ReviewedCaller, 'serviceAccount' | 'podName'>,
  pod: Pick<V1Pod, 'metadata' | 'spec'>,
  gateway: { spec?: { gatewayClassName?: string } } | undefined,
): WaypointCaller | { refused: string } {
  const [namespace, serviceAccount] = caller.serviceAccount.split('/') as [string, string];
  const name = pod.metadata?.labels?.[GATEWAY_NAME_LABEL];
  const notNode = `service account ${caller.serviceAccount} is not a trusted node agent`;
  if (name === undefined) {
    return { refused: `${notNode}, and pod ${namespace}/${caller.podName} is not a waypoint's` };
  }
  if (gateway === undefined)
    return { refused: `${notNode}, and Gateway ${namespace}/${name} does not exist` };
  if (gateway.spec?.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) {
    return {
      refused: `${notNode}, and Gateway ${namespace}/${name} is not of class ${WAYPOINT_GATEWAY_CLASS}`,
    };
  }
  if (serviceAccount !== name || (pod.spec?.serviceAccountName || 'default') !== serviceAccount) {
    return {
      refused: `${notNode}, and a waypoint of Gateway ${namespace}/${name} runs as service account ${namespace}/${name}`,
    };
  }
  return { namespace, name, serviceAccount, pod: caller.podName };
}

type Outcome = Caller | { refused: string };

/** An outcome and, for an admission, the uid of the pod its token is bound to. */
interface Reviewed {
  outcome: Outcome;
  podUid?: string | undefined;
}

/** Outcomes by token digest, oldest first, at most `limit`. */
class OutcomeCache {
  readonly #entries = new Map<string, Reviewed & { until: number }>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get(key: string, now: number): Outcome | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.until > now) return hit.outcome;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, reviewed: Reviewed, until: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { ...reviewed, until });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#limit) break;
      this.#entries.delete(oldest);
    }
  }

  /** Drops what was decided for tokens bound to the pod (at most `limit` entries to look at). */
  forgetPod(uid: string): void {
    for (const [key, entry] of this.#entries) if (entry.podUid === uid) this.#entries.delete(key);
  }
}

export class TokenReviewAuthenticator implements NodeAuthenticator {
  readonly #settings: TokenReviewSettings;
  readonly #reviews: AuthenticationV1Api;
  readonly #pods: CoreV1Api;
  readonly #gateways: CustomObjectsApi;
  readonly #clock: Clock;
  readonly #admitted: OutcomeCache;
  readonly #refused: OutcomeCache;
  /**
   * Uids of pods deleted lately (as many as an outcome cache holds, oldest out first), so that a review
   * that read its pod just before the deletion does not admit it afterwards.
   */
  readonly #deletedPods = new Set<string>();
  /** Reviews under way, so that concurrent calls with one token make one review. */
  readonly #pending = new Map<string, Promise<Outcome>>();
  readonly #rate: TokenBucket;
  readonly #counted = new Counter({
    name: 'ambit_control_token_reviews_total',
    help: 'TokenReviews of data-plane callers, by outcome (admitted, refused, rate_limited: not asked, failed: the API did not answer)',
    labelNames: ['outcome'],
    registers: [],
  });

  constructor(config: KubeConfig, settings: TokenReviewSettings, clock: Clock = systemClock) {
    this.#settings = settings;
    this.#reviews = config.makeApiClient(AuthenticationV1Api);
    this.#pods = config.makeApiClient(CoreV1Api);
    this.#gateways = config.makeApiClient(CustomObjectsApi);
    this.#clock = clock;
    this.#admitted = new OutcomeCache(settings.cacheEntries ?? 1024);
    this.#refused = new OutcomeCache(settings.cacheEntries ?? 1024);
    this.#rate = new TokenBucket(settings.reviewRate ?? DEFAULT_REVIEW_RATE, clock.now());
  }

  registerMetrics(registry: Registry): void {
    registry.registerMetric(this.#counted);
  }

  /** The pod was deleted: a token bound to it is reviewed again (and refused) at its next use. */
  forgetPod(uid: string): void {
    this.#admitted.forgetPod(uid);
    this.#deletedPods.add(uid);
    for (const oldest of this.#deletedPods) {
      if (this.#deletedPods.size <= (this.#settings.cacheEntries ?? 1024)) break;
      this.#deletedPods.delete(oldest);
    }
  }

  async authenticate(metadata: Metadata): Promise<Caller> {
    const outcome = await this.#cached(bearerToken(metadata));
    if ('refused' in outcome) throw new AuthenticationError(`node credential refused: ${outcome.refused}`);
    return outcome;
  }

  #cached(token: string): Promise<Outcome> {
    const key = createHash('sha256').update(token).digest('base64');
    const now = this.#clock.now();
    const hit = this.#admitted.get(key, now) ?? this.#refused.get(key, now);
    if (hit !== undefined) return Promise.resolve(hit);
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending;
    if (!this.#rate.take(now)) {
      this.#counted.inc({ outcome: 'rate_limited' });
      return Promise.reject(
        Object.assign(new Error('too many new credentials to review at once; retry'), {
          code: grpcStatus.UNAVAILABLE,
        }),
      );
    }
    const review = this.#review(token).then(
      (answer) => {
        this.#pending.delete(key);
        // An admission whose pod was deleted while it was being reviewed (it read the pod just before).
        const reviewed: Reviewed =
          !('refused' in answer.outcome) && this.#deletedPods.has(answer.podUid ?? '')
            ? { outcome: { refused: "the token's pod was deleted during its review" } }
            : answer;
        const refused = 'refused' in reviewed.outcome;
        this.#counted.inc({ outcome: refused ? 'refused' : 'admitted' });
        (refused ? this.#refused : this.#admitted).set(
          key,
          reviewed,
          this.#clock.now() + (this.#settings.cacheMs ?? 60_000),
        );
        return reviewed.outcome;
      },
      (error: unknown) => {
        // An API failure says nothing about the token: the next call asks again.
        this.#pending.delete(key);
        this.#counted.inc({ outcome: 'failed' });
        throw error;
      },
    );
    this.#pending.set(key, review);
    return review;
  }

  async #review(token: string): Promise<Reviewed> {
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
    if ('refused' in caller) return { outcome: caller };
    return { outcome: await this.#callerOf(caller), podUid: caller.podUid };
  }

  /** Who the reviewed caller is, from its pod (and a waypoint's Gateway) as the API has them now. */
  async #callerOf(caller: ReviewedCaller): Promise<Outcome> {
    const namespace = caller.serviceAccount.split('/')[0]!;
    const pod = await this.#unavailableOnFailure('reading the caller pod', () =>
      absentOn404(this.#pods.readNamespacedPod({ name: caller.podName, namespace })),
    );
    if (pod === undefined || pod.metadata?.uid !== caller.podUid) {
      return { refused: `the token's pod ${namespace}/${caller.podName} no longer exists` };
    }
    const node = pod.spec?.nodeName;
    if (!node) return { refused: `pod ${namespace}/${caller.podName} is not on a node` };
    if (caller.nodeAgent) return { node };
    const gatewayName = pod.metadata?.labels?.[GATEWAY_NAME_LABEL];
    const gateway =
      gatewayName === undefined
        ? undefined
        : await this.#unavailableOnFailure("reading the caller pod's Gateway", () =>
            absentOn404(
              this.#gateways.getNamespacedCustomObject({
                group: 'gateway.networking.k8s.io',
                version: 'v1',
                namespace,
                plural: 'gateways',
                name: gatewayName,
              }) as Promise<{ spec?: { gatewayClassName?: string } }>,
            ),
          );
    const waypoint = waypointCallerOf(caller, pod, gateway);
    return 'refused' in waypoint ? waypoint : { node, waypoint };
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

/** The object, or undefined when the API says it does not exist. */
function absentOn404<T>(read: Promise<T>): Promise<T | undefined> {
  return read.catch((error: unknown) => {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  });
}

/**
 * The commands of `ambit-cni`, a chained CNI plugin: it runs after the cluster's primary plugin (which gave
 * the pod its interface and addresses) and, for a pod of the ambient mesh, has the node agent capture the
 * pod's traffic before the runtime starts any container.
 *
 * - ADD: reads the pod and its namespace from the Kubernetes API; when the pod is ambient, sends `add` over
 *   the node agent's enrollment socket and waits for the ACK (listeners open, rules installed). Anything
 *   else (a NACK, no agent, no answer, no API) fails ADD, so the pod is never created uncaptured.
 * - DEL: sends `remove` for the pod (the agent answers for pods it does not know); succeeds when no agent is
 *   installed on the node, so uninstalling Ambit never wedges pod deletion.
 * - CHECK: an ambient pod's capture rules must be installed in its namespace, as the agent installs them.
 * - VERSION: the versions whose chained contract this plugin follows.
 *
 * The result of ADD is the primary plugin's, passed on unchanged: capture changes no address.
 */
import { existsSync } from 'node:fs';
import { withDeadline } from '../core/deadline.ts';
import { errorMessage } from '../core/errors.ts';
import { EnrollmentClient } from '../redirect/enroll/client.ts';
import { listRules } from '../redirect/rules.ts';
import { decideEnrollment, type EnrollDecision, type PodFacts } from './decision.ts';
import { type CniRequest, type PluginConfig, type PodRef, podIps } from './request.ts';
import { CNI_ERROR, CniError, type CniResult, SUPPORTED_VERSIONS } from './spec.ts';

/** What the commands reach outside the process; tests of the decision paths may replace the pod lookup. */
export interface PluginDeps {
  podFacts(ref: PodRef, config: PluginConfig): Promise<PodFacts>;
  /** Diagnostics for the runtime's log (stderr): never stdout, which carries the result. */
  note(message: string): void;
}

export const defaultDeps: PluginDeps = {
  // Loaded on first use: the Kubernetes client costs most of a plugin start, and VERSION, DEL with
  // K8S_POD_UID and every non-Kubernetes sandbox never need it.
  podFacts: async (ref, config) =>
    (await import('./pod-facts.ts')).readPodFacts(ref, config.kubeconfig, config.enrollTimeoutMs),
  note: (message) => process.stderr.write(`ambit-cni: ${message}\n`),
};

/** What the plugin prints on success (nothing for DEL and CHECK). */
export type PluginOutput = CniResult | { cniVersion: string; supportedVersions: string[] } | undefined;

type PodRequest = Exclude<CniRequest, { command: 'VERSION' }>;

export async function runPlugin(request: CniRequest, deps: PluginDeps = defaultDeps): Promise<PluginOutput> {
  switch (request.command) {
    case 'VERSION':
      return { cniVersion: request.cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
    case 'ADD':
      return add(request, deps);
    case 'DEL':
      return del(request, deps);
    case 'CHECK':
      return check(request, deps);
  }
}

async function decide(request: PodRequest, deps: PluginDeps): Promise<EnrollDecision> {
  if (!request.pod) return { enroll: false, reason: 'CNI_ARGS names no Kubernetes pod' };
  const facts = await deps.podFacts(request.pod, request.config);
  return decideEnrollment(facts, {
    ips: podIps(request.config.prevResult),
    netns: request.netns!,
    excludeNamespaces: request.config.excludeNamespaces,
  });
}

function agentClient(config: PluginConfig): EnrollmentClient {
  return new EnrollmentClient(config.enrollSocket, {
    requestTimeoutMs: config.enrollTimeoutMs,
    reconnect: false,
  });
}

async function add(request: PodRequest, deps: PluginDeps): Promise<CniResult> {
  const result = { ...request.config.prevResult!, cniVersion: request.config.cniVersion };
  const decision = await decide(request, deps);
  if (!decision.enroll) {
    deps.note(`${request.containerId}: not enrolled (${decision.reason})`);
    return result;
  }
  const { pod } = decision;
  if (pod.ips.length === 0) {
    throw new CniError(
      CNI_ERROR.enrollmentFailed,
      `pod ${pod.namespace}/${pod.name} is ambient but the previous plugin gave it no address`,
    );
  }
  const client = agentClient(request.config);
  try {
    await client.enroll(pod);
  } catch (error) {
    throw new CniError(
      CNI_ERROR.enrollmentFailed,
      `the node agent at ${request.config.enrollSocket} did not capture pod ${pod.namespace}/${pod.name}; not starting it`,
      errorMessage(error),
    );
  } finally {
    client.close();
  }
  deps.note(`${request.containerId}: pod ${pod.namespace}/${pod.name} enrolled`);
  return result;
}

async function del(request: PodRequest, deps: PluginDeps): Promise<undefined> {
  const { config } = request;
  if (!existsSync(config.enrollSocket)) {
    deps.note(`${request.containerId}: no node agent at ${config.enrollSocket}; nothing to remove`);
    return undefined;
  }
  const uid = request.pod?.uid ?? (request.pod && (await podUid(request.pod, config, deps)));
  if (!uid) {
    // Without the pod's uid the agent cannot tell which pod to release; it drops pods whose namespace is gone.
    deps.note(
      `${request.containerId}: the pod's uid is unknown (no K8S_POD_UID, not in the API); nothing to remove`,
    );
    return undefined;
  }
  const client = agentClient(config);
  try {
    await withDeadline(client.unenroll(uid, request.netns), config.enrollTimeoutMs, 'removing the pod');
  } catch (error) {
    // The runtime retries DEL until it succeeds: the agent must release the pod's listeners.
    throw new CniError(
      CNI_ERROR.tryAgainLater,
      `the node agent did not confirm removing pod ${uid}`,
      errorMessage(error),
    );
  } finally {
    client.close();
  }
  return undefined;
}

async function podUid(ref: PodRef, config: PluginConfig, deps: PluginDeps): Promise<string | undefined> {
  try {
    return (await deps.podFacts(ref, config)).uid;
  } catch {
    return undefined; // deleted from the API already
  }
}

async function check(request: PodRequest, deps: PluginDeps): Promise<undefined> {
  const decision = await decide(request, deps);
  if (!decision.enroll) return undefined;
  let listing: Awaited<ReturnType<typeof listRules>>;
  try {
    listing = await listRules({ path: request.netns! }, { backend: request.config.backend });
  } catch (error) {
    throw new CniError(
      CNI_ERROR.ioFailure,
      `cannot list the capture rules in ${request.netns}`,
      errorMessage(error),
    );
  }
  const { rules, routes } = listing;
  if (!rules.installed || rules.drift.length > 0 || routes.drift.length > 0) {
    throw new CniError(
      CNI_ERROR.captureMissing,
      `pod ${decision.pod.namespace}/${decision.pod.name} is ambient but its capture rules are ${rules.installed ? 'drifted' : 'missing'}`,
      [...rules.drift, ...routes.drift].join('\n'),
    );
  }
  return undefined;
}

/**
 * The L7 policies of an ingress gateway, by one rule for Istio's classic gateway deployments and Gateway API
 * Gateways alike. AuthorizationPolicies and RequestAuthentications reach the gateway's pods as they reach
 * any workload (Istio scopes them so): one in the root namespace reaches workloads across namespaces, any
 * other only in its own; with a `selector`, the pods whose labels satisfy it; without one (and without
 * `targetRefs`, which name what it attaches to instead) all of them. Those apply to the whole gateway. A
 * Gateway API Gateway also takes the policies whose `targetRefs` name it (the whole gateway) or a Service it
 * serves. A pure function of its inputs.
 */
import type { AuthorizationPolicySpec } from '../../../core/config/kinds/istio-security.ts';
import type { RequestAuthenticationSpec } from '../../../core/config/kinds/request-authentication.ts';
import type { JwtRule, L7AuthorizationPolicy, ServedService } from '../../../core/l7/types.ts';
import { ROOT_NAMESPACE } from '../../../core/labels.ts';
import type { NamedConfig } from '../../../core/model/index.ts';
import { labelsMatch } from '../../../core/policy/selector.ts';
import { toL7Policy } from '../l7/authorization.ts';
import type { CompileNote } from '../l7/notes.ts';
import { jwtPolicyAttaches, serviceJwtRules } from '../l7/request-authentication.ts';

/** The pods that run a gateway: its name, namespace and pod labels. */
export interface GatewayDeployment {
  name: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

export interface GatewayPolicyInputs {
  /** AuthorizationPolicies that reach workloads (those reaching the gateway's pods apply). */
  workloadPolicies?: readonly NamedConfig<AuthorizationPolicySpec>[] | undefined;
  /** RequestAuthentications (those reaching the gateway's pods, or naming its Gateway, apply). */
  requestAuthentications?: readonly NamedConfig<RequestAuthenticationSpec>[] | undefined;
  trustDomain: string;
}

type WorkloadScoped = {
  selector?: Record<string, string> | undefined;
  targetRefs?: readonly unknown[] | undefined;
};

/** Whether a policy reaches the gateway's pods, as Istio scopes it (see above). */
export function reaches(policy: NamedConfig<WorkloadScoped>, deployment: GatewayDeployment): boolean {
  const { selector, targetRefs } = policy.spec;
  if (policy.namespace !== ROOT_NAMESPACE && policy.namespace !== deployment.namespace) return false;
  if (selector === undefined) return (targetRefs?.length ?? 0) === 0;
  return labelsMatch(selector, deployment.labels);
}

export interface GatewayPolicies {
  authorization: L7AuthorizationPolicy[];
  jwtRules: JwtRule[];
}

/**
 * The authorization and JWT rules of the gateway serving `served`. `attached` holds the AuthorizationPolicies
 * with `targetRefs` for a Gateway API Gateway (a classic deployment has no Gateway to name: none), and a
 * RequestAuthentication's `targetRefs` count only then too.
 */
export function gatewayPolicies(
  served: ServedService,
  deployment: GatewayDeployment,
  inputs: GatewayPolicyInputs,
  attached: readonly NamedConfig<AuthorizationPolicySpec>[] | undefined,
  notes: CompileNote[],
): GatewayPolicies {
  const ref = { name: deployment.name, namespace: deployment.namespace };
  const translate = (policy: NamedConfig<AuthorizationPolicySpec>, scope: 'selected' | 'ingress') => {
    const translated = toL7Policy(policy, ref, [served], inputs.trustDomain, scope);
    notes.push(...translated.notes);
    return translated.policy ?? [];
  };
  const authorization = [
    ...(inputs.workloadPolicies ?? [])
      .filter((policy) => reaches(policy, deployment))
      .flatMap((policy) => translate(policy, 'selected')),
    ...(attached ?? []).flatMap((policy) => translate(policy, 'ingress')),
  ];
  const requestAuthentications = (inputs.requestAuthentications ?? []).filter(
    (policy) =>
      reaches(policy, deployment) ||
      (attached !== undefined && jwtPolicyAttaches(policy, served, ref, 'ingress')),
  );
  const jwtRules = serviceJwtRules(served, requestAuthentications, ref, notes, 'selected');
  return { authorization, jwtRules };
}

/**
 * The snapshots `ambit explain` and `ambit authz check` answer from: the live ones (read by
 * `local/mesh/snapshots.ts`) with `-f` policies compiled by the control plane's own translations and laid
 * over them, replacing any of the same namespace and name.
 */
import { readFileSync } from 'node:fs';
import { parseFiles } from '../../control/config/parse.ts';
import { CONTROL_KINDS } from '../../control/kinds.ts';
import { toL4Policy } from '../../control/model/authorization.ts';
import { toL7Policy } from '../../control/model/l7/authorization.ts';
import { toPeerAuthPolicies } from '../../control/model/peer-authentication.ts';
import { ConfigError, hasErrors } from '../../core/config/issues.ts';
import {
  AUTHORIZATION_POLICY,
  type AuthorizationPolicySpec,
  PEER_AUTHENTICATION,
  type PeerAuthenticationSpec,
} from '../../core/config/kinds/istio-security.ts';
import { ofKind, type Resource } from '../../core/config/resource.ts';
import { AmbitError } from '../../core/errors.ts';
import type { MeshSnapshots } from '../../core/explain/mesh-snapshots.ts';
import { DEFAULT_TRUST_DOMAIN } from '../../core/identity.ts';

/** The policies `authz check -f` lays over the live config. */
export interface PolicyFiles {
  authorization: Resource<AuthorizationPolicySpec>[];
  peerAuthentication: Resource<PeerAuthenticationSpec>[];
}

/**
 * The AuthorizationPolicies and PeerAuthentications of `files`, validated as `ambit apply` validates them
 * (errors refuse all).
 */
export function readPolicyFiles(files: readonly string[]): PolicyFiles {
  const parsed = parseFiles(
    files.map((name) => ({ name, content: readFileSync(name, 'utf8') })),
    CONTROL_KINDS,
  );
  if (hasErrors(parsed.issues)) throw new ConfigError(parsed.issues);
  const policies = {
    authorization: ofKind(parsed.resources, AUTHORIZATION_POLICY),
    peerAuthentication: ofKind(parsed.resources, PEER_AUTHENTICATION),
  };
  if (policies.authorization.length + policies.peerAuthentication.length === 0)
    throw new AmbitError('USAGE', `${files.join(', ')}: no AuthorizationPolicy or PeerAuthentication found`);
  return policies;
}

const sameName = (a: { name: string; namespace: string }, b: { name: string; namespace: string }) =>
  a.name === b.name && a.namespace === b.namespace;

/**
 * The snapshots with `files` applied on top, compiled by the control plane's own translations: a policy
 * replaces the live one of the same namespace and name. A PeerAuthentication of another name at a scope
 * the live config already covers goes beside it, and the ztunnel's resolution (the first by name at each
 * level) picks between them as the control plane would.
 */
export function withPolicies(mesh: MeshSnapshots, files: PolicyFiles): MeshSnapshots {
  const policies = files.authorization;
  const l4 = policies.flatMap((policy) => toL4Policy(policy, DEFAULT_TRUST_DOMAIN).policy ?? []);
  const overlaid = toPeerAuthPolicies(files.peerAuthentication).policies;
  const nodes = new Map(
    [...mesh.nodes].map(([node, snapshot]) => [
      node,
      {
        ...snapshot,
        policies: [...snapshot.policies.filter((p) => !l4.some((n) => sameName(n, p))), ...l4],
        peerAuthentications:
          overlaid.length === 0
            ? snapshot.peerAuthentications
            : [
                ...snapshot.peerAuthentications.filter((p) => !overlaid.some((n) => sameName(n, p))),
                ...overlaid,
              ],
      },
    ]),
  );
  const waypoints = new Map(
    [...mesh.waypoints].map(([key, snapshot]) => {
      const l7 = policies.flatMap(
        (policy) =>
          toL7Policy(
            {
              name: policy.metadata.name,
              namespace: policy.metadata.namespace ?? 'default',
              spec: policy.spec,
            },
            snapshot.waypoint,
            snapshot.servedServices,
            DEFAULT_TRUST_DOMAIN,
          ).policy ?? [],
      );
      return [
        key,
        {
          ...snapshot,
          authorization: [...snapshot.authorization.filter((p) => !l7.some((n) => sameName(n, p))), ...l7],
        },
      ];
    }),
  );
  return { nodes, waypoints };
}

/**
 * The snapshots `ambit explain` and `ambit authz check` answer from, read where the data plane holds them:
 * each node's ztunnel (`/config_dump` on its admin socket) and each waypoint (its own admin socket), over
 * unix sockets in the cluster's state directory, as `ambit ztunnel-config` reads them. `-f` policies are
 * compiled by the control plane's own translations and laid over the live ones, replacing any of the same
 * namespace and name.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
import { AmbitError, errorMessage } from '../../core/errors.ts';
import { DEFAULT_TRUST_DOMAIN } from '../../core/identity.ts';
import type { NodeSnapshot, WaypointSnapshot } from '../../core/model/index.ts';
import { waypointDir } from '../../local/mesh/waypoints.ts';
import type { ClusterState } from '../../local/types.ts';
import { adminGet, adminSocketPath } from '../../ztunnel/index.ts';
import type { MeshSnapshots } from './trace.ts';

/** Told of a waypoint whose snapshot could not be read (by default: a line on stderr, for the CLI). */
export type UnreachableWaypoint = (gateway: { name: string; namespace: string }, error: unknown) => void;

const printUnreachable: UnreachableWaypoint = (gateway, error) =>
  process.stderr.write(`ambit: waypoint ${gateway.namespace}/${gateway.name}: ${errorMessage(error)}\n`);

/** Every node's and every waypoint's snapshot of a running local cluster. */
export async function readMeshSnapshots(
  cluster: ClusterState,
  onUnreachable: UnreachableWaypoint = printUnreachable,
): Promise<MeshSnapshots> {
  const nodes = new Map<string, NodeSnapshot>();
  for (const node of cluster.nodes) {
    const dump = (await adminGet(adminSocketPath(cluster.stateDir, node.name), '/config_dump')) as {
      snapshot: NodeSnapshot;
    };
    nodes.set(node.name, dump.snapshot);
  }
  const waypoints = new Map<string, WaypointSnapshot>();
  for (const pod of cluster.pods) {
    if (pod.owner?.kind !== 'Gateway') continue;
    const gateway = { name: pod.owner.name, namespace: pod.namespace };
    try {
      const dump = (await adminGet(join(waypointDir(cluster, gateway), 'admin.sock'), '/config_dump')) as {
        snapshot?: WaypointSnapshot;
      };
      if (dump.snapshot) waypoints.set(`${gateway.namespace}/${gateway.name}`, dump.snapshot);
    } catch (error) {
      // A waypoint not up yet: the explanation says its L7 part could not be evaluated.
      onUnreachable(gateway, error);
    }
  }
  return { nodes, waypoints };
}

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

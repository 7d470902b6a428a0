/**
 * Service accounts and least-privilege RBAC, one account per part:
 *
 * - the control plane reads (list/watch) what the mesh is built from, writes status and Events on the config
 *   it validates, creates TokenReviews (node identity), reads and writes its CA Secret in its own namespace
 *   only, and manages waypoint Deployments/Services/ServiceAccounts (Gateways of class istio-waypoint may
 *   be in any namespace, so this is cluster-wide, as istiod's);
 * - the ztunnel needs no API access at all: it talks to the control plane with a projected token;
 * - the CNI node agent reads pods and namespaces (the plugin's ambient decision) and its own DaemonSet.
 */
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { meta } from './metadata.ts';
import { type InstallSettings, NAMES } from './settings.ts';

const READ = ['get', 'list', 'watch'];

/** What the control plane reads to build the mesh: core objects and the Istio / Gateway API kinds. */
export const CONTROL_READS = [
  { apiGroups: [''], resources: ['namespaces', 'pods', 'services', 'nodes'], verbs: READ },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
  { apiGroups: ['networking.istio.io'], resources: ['virtualservices', 'destinationrules'], verbs: READ },
  {
    apiGroups: ['security.istio.io'],
    resources: ['authorizationpolicies', 'peerauthentications'],
    verbs: READ,
  },
  {
    apiGroups: ['gateway.networking.k8s.io'],
    resources: ['gateways', 'httproutes', 'gatewayclasses'],
    verbs: READ,
  },
];

function serviceAccount(name: string, settings: InstallSettings): IServiceAccount {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(name, settings) };
}

/** Binds the role named like the service account to it: cluster-wide, or in the install's namespace. */
function clusterBinding(name: string, settings: InstallSettings): IClusterRoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: meta(name, settings, { namespaced: false }),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: settings.namespace }],
  };
}

function namespacedBinding(name: string, settings: InstallSettings): IRoleBinding {
  return {
    ...clusterBinding(name, settings),
    kind: 'RoleBinding',
    metadata: meta(name, settings),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
  };
}

export function rbacObjects(settings: InstallSettings) {
  const controlRole: IClusterRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: meta(NAMES.control, settings, { namespaced: false }),
    rules: [
      ...CONTROL_READS,
      // Validation results on the objects themselves (status conditions) and as Events.
      {
        apiGroups: ['networking.istio.io', 'security.istio.io'],
        resources: [
          'virtualservices/status',
          'destinationrules/status',
          'authorizationpolicies/status',
          'peerauthentications/status',
        ],
        verbs: ['update', 'patch'],
      },
      {
        apiGroups: ['gateway.networking.k8s.io'],
        resources: ['gateways/status', 'httproutes/status'],
        verbs: ['update', 'patch'],
      },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      // Node identity: the ztunnels' projected tokens are checked by the API server.
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      // Waypoints: what a Gateway of class istio-waypoint deploys, owned by the Gateway.
      {
        apiGroups: ['apps'],
        resources: ['deployments'],
        verbs: [...READ, 'create', 'update', 'patch', 'delete'],
      },
      {
        apiGroups: [''],
        // ConfigMaps: each waypoint's copy of the mesh root (a pod mounts only its own namespace's).
        resources: ['services', 'serviceaccounts', 'configmaps'],
        verbs: [...READ, 'create', 'update', 'patch', 'delete'],
      },
    ],
  };
  // The CA Secret lives in the install's namespace; nothing else of Secrets is readable.
  const caRole: IRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(NAMES.control, settings),
    rules: [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [NAMES.caSecret],
        verbs: ['get', 'watch', 'update'],
      },
      // Leader election of the waypoint controller: only one replica writes.
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
    ],
  };
  const cniRole: IClusterRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: meta(NAMES.cniNode, settings, { namespaced: false }),
    // get: the plugin's decision for one pod; list: the agent's reconcile of the pods already running.
    rules: [{ apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list'] }],
  };
  // On SIGTERM the CNI node agent asks whether its DaemonSet is being deleted (uninstall) or only restarted.
  const cniSelfRole: IRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(NAMES.cniNode, settings),
    rules: [
      { apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: [NAMES.cniNode], verbs: ['get'] },
    ],
  };
  return [
    serviceAccount(NAMES.control, settings),
    serviceAccount(NAMES.ztunnel, settings),
    serviceAccount(NAMES.cniNode, settings),
    controlRole,
    clusterBinding(NAMES.control, settings),
    caRole,
    namespacedBinding(NAMES.control, settings),
    cniRole,
    clusterBinding(NAMES.cniNode, settings),
    cniSelfRole,
    namespacedBinding(NAMES.cniNode, settings),
  ];
}

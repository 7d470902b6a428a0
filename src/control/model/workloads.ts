/**
 * Workloads (the data plane's view of a pod) from reported pods and namespace labels: identity, enrollment,
 * canonical name/revision (as Istio derives them for metrics and baggage), and waypoint binding.
 */
import { spiffeUri } from '../../core/identity.ts';
import { isEnrolled } from '../../core/labels.ts';
import type { Workload } from '../../core/model/index.ts';
import type { PodRecord } from '../pods/pod-source.ts';
import { scopedBinding, type WaypointDeclaration, waypointBinding, waypointOfPod } from './waypoints.ts';

const NO_LABELS: Readonly<Record<string, string>> = {};

export function buildWorkload(
  pod: PodRecord,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
  trustDomain: string,
  waypoints: ReadonlyMap<string, WaypointDeclaration> = new Map(),
): Workload {
  const nsLabels = namespaceLabels ?? NO_LABELS;
  // A waypoint's own traffic never goes through a waypoint.
  const isWaypoint = waypointOfPod(pod, waypoints) !== undefined;
  return {
    uid: pod.uid,
    name: pod.name,
    namespace: pod.namespace,
    node: pod.node,
    ips: pod.ips,
    serviceAccount: pod.serviceAccount,
    identity: spiffeUri({ trustDomain, namespace: pod.namespace, serviceAccount: pod.serviceAccount }),
    labels: pod.labels,
    enrolled: isEnrolled(pod.labels, nsLabels),
    canonicalName: canonicalName(pod),
    canonicalRevision:
      pod.labels['service.istio.io/canonical-revision'] ??
      pod.labels['app.kubernetes.io/version'] ??
      pod.labels.version ??
      'latest',
    waypoint: isWaypoint
      ? undefined
      : scopedBinding(waypointBinding(pod.labels, nsLabels, pod.namespace), 'workload', waypoints),
    ...(isWaypoint ? { isWaypoint } : {}),
  };
}

function canonicalName(pod: PodRecord): string {
  const labels = pod.labels;
  const named = labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app;
  if (named !== undefined) return named;
  // A Deployment's pods are named <deployment>-<template hash>-<suffix>: the workload is the Deployment.
  const hash = labels['pod-template-hash'];
  if (hash !== undefined) {
    const marker = `-${hash}-`;
    const at = pod.name.lastIndexOf(marker);
    if (at > 0) return pod.name.slice(0, at);
  }
  return pod.name;
}

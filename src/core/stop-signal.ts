/**
 * How every long-running Ambit process (the ztunnel, a waypoint, the control plane, the demo apps, the
 * cluster's helpers) learns that it is asked to stop: the supervisor and Kubernetes send SIGTERM, a user at a
 * terminal SIGINT. One listener of each, removed by Node once it fires.
 */

/** Resolves at the first SIGTERM or SIGINT. */
export function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}

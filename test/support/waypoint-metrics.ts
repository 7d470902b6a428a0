/** A local cluster waypoint's Prometheus metrics, read inside its pod's namespace. */
import { execFileSync } from 'node:child_process';
import { podNetns } from '../../src/local/names.ts';

/** `metric` of the waypoint pod `namespace/pod` of cluster `cluster`, summed over the series whose labels include `match`. */
export function waypointMetric(
  cluster: string,
  metric: string,
  match: Record<string, string>,
  namespace = 'apps',
  pod = 'waypoint-0',
): number {
  const text = execFileSync(
    'ip',
    ['netns', 'exec', podNetns(cluster, namespace, pod), 'curl', '-s', 'http://127.0.0.1:15020/metrics'],
    { encoding: 'utf8' },
  );
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    if (Object.entries(match).every(([key, value]) => line.includes(`${key}="${value}"`)))
      sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

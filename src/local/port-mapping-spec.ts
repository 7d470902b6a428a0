/**
 * The cluster file's `spec.portMappings`, parsed and checked (pure: no sockets here, so reading a cluster
 * file loads nothing of the netns machinery): each maps a loopback host port to a pod's port; see
 * port-mappings.ts for what the supervisor does with them.
 */
import type { Field } from '../core/config/field.ts';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../core/config/resource.ts';
import { cidrContains, parseCidr, parseIp } from '../core/net/ip.ts';

const LOOPBACK = [parseCidr('127.0.0.0/8')!, parseCidr('::1/128')!];

/** Whether a host address is on loopback (the only addresses a forward may listen on). */
export function isLoopback(address: string): boolean {
  const ip = parseIp(address);
  return ip !== undefined && LOOPBACK.some((cidr) => cidrContains(cidr, ip));
}

export interface PortMappingSpec {
  /** The host side: `listenAddress:hostPort` (loopback). */
  listenAddress: string;
  hostPort: number;
  /** The pod, by namespace and name, and its port. */
  namespace: string;
  pod: string;
  podPort: number;
}

/** `spec.portMappings`: each names a pod and two ports; no host address and port twice. */
export function parsePortMappings(field: Field): PortMappingSpec[] {
  const seen = new Set<string>();
  return (
    field.list((item) => {
      const object = item.object(['hostPort', 'pod', 'namespace', 'podPort', 'listenAddress'], {
        required: true,
      });
      if (!object) return undefined;
      const hostPort = object.child('hostPort').port({ required: true });
      const podPort = object.child('podPort').port({ required: true });
      const pod = object
        .child('pod')
        .string({ required: true, pattern: DNS_SUBDOMAIN, patternHint: 'a pod name' });
      const namespace =
        object.child('namespace').string({ pattern: DNS_LABEL, patternHint: 'a namespace name' }) ??
        'default';
      const listenAddress = object.child('listenAddress').string() ?? '127.0.0.1';
      if (!isLoopback(listenAddress))
        return object
          .child('listenAddress')
          .error(`${listenAddress} is not a loopback address: mappings listen on 127.0.0.1 or ::1 only`);
      if (hostPort === undefined || podPort === undefined || pod === undefined) return undefined;
      const key = `${listenAddress}:${hostPort}`;
      if (seen.has(key)) return object.child('hostPort').error(`${key} is mapped twice`);
      seen.add(key);
      return { listenAddress, hostPort, namespace, pod, podPort };
    }) ?? []
  );
}

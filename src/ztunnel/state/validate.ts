/**
 * Checks a snapshot before the store accepts it, so that a malformed push is refused (NACKed) as a whole
 * and the last good snapshot keeps serving. Every problem is reported with its path in the snapshot. A delta
 * is checked by what it brings alone (`changeProblems`).
 */

import type { NodeSnapshotChanges } from '../../core/discovery/resources.ts';
import { parseSpiffeUri } from '../../core/identity.ts';
import type { Endpoint, L4Policy, NodeSnapshot, Service, Workload } from '../../core/model/index.ts';
import { isPort } from '../../core/net/host-port.ts';
import { parseCidr, parseIp } from '../../core/net/ip.ts';

type Problem = (path: string, message: string) => void;

export function snapshotProblems(snapshot: NodeSnapshot): string[] {
  const problems: string[] = [];
  const problem: Problem = (path, message) => problems.push(`${path}: ${message}`);
  if (typeof snapshot.version !== 'string' || snapshot.version === '') problem('version', 'must be set');
  const uids = new Set<string>();
  snapshot.workloads.forEach((workload, i) => {
    const path = `workloads[${i}] (${workload.uid})`;
    if (uids.has(workload.uid)) problem(path, 'duplicate uid');
    uids.add(workload.uid);
    workloadProblems(workload, path, problem);
  });
  snapshot.services.forEach((service, i) => {
    serviceProblems(service, `services[${i}] (${service.namespace}/${service.name})`, problem);
  });
  snapshot.policies.forEach((policy, i) => {
    policyProblems(policy, `policies[${i}] (${policy.namespace}/${policy.name})`, problem);
  });
  return problems;
}

/**
 * The problems of the resources a delta brings (each checked once, where it arrives; what the store already
 * holds was checked when it came). Keys are unique by construction: a delta names each resource once.
 */
export function changeProblems(changes: NodeSnapshotChanges): string[] {
  const problems: string[] = [];
  const problem: Problem = (path, message) => problems.push(`${path}: ${message}`);
  if (changes.version === '') problem('version', 'must be set');
  for (const workload of changes.workloads.set)
    workloadProblems(workload, `workload ${workload.uid}`, problem);
  for (const service of changes.services.set)
    serviceProblems(service, `service ${service.namespace}/${service.name}`, problem);
  // A Service whose shards alone changed: its spec and its other endpoints were checked when they came.
  for (const { service, added } of changes.serviceEndpoints ?? [])
    endpointProblems(added, `service ${service.namespace}/${service.name} (endpoints added)`, problem);
  for (const policy of changes.policies.set)
    policyProblems(policy, `policy ${policy.namespace}/${policy.name}`, problem);
  return problems;
}

function workloadProblems(workload: Workload, path: string, problem: Problem): void {
  workload.ips.forEach((ip, j) => {
    if (!parseIp(ip)) problem(`${path}.ips[${j}]`, `${JSON.stringify(ip)} is not an IP address`);
  });
  if (!parseSpiffeUri(workload.identity)) {
    problem(`${path}.identity`, `${JSON.stringify(workload.identity)} is not a SPIFFE workload identity`);
  }
}

function serviceProblems(service: Service, path: string, problem: Problem): void {
  service.vips.forEach((vip, j) => {
    if (!parseIp(vip)) problem(`${path}.vips[${j}]`, `${JSON.stringify(vip)} is not an IP address`);
  });
  service.ports.forEach((port, j) => {
    if (!isPort(port.port)) problem(`${path}.ports[${j}].port`, `${port.port} is not a port`);
    if (!isPort(port.targetPort) && port.targetPort !== 0) {
      problem(`${path}.ports[${j}].targetPort`, `${port.targetPort} is not a port`);
    }
  });
  endpointProblems(service.endpoints, path, problem);
}

function endpointProblems(endpoints: readonly Endpoint[], path: string, problem: Problem): void {
  endpoints.forEach((endpoint, j) => {
    if (!parseIp(endpoint.ip))
      problem(`${path}.endpoints[${j}].ip`, `${JSON.stringify(endpoint.ip)} is not an IP`);
  });
}

function policyProblems(policy: L4Policy, path: string, problem: Problem): void {
  const cidrs = (list: readonly string[], at: string) =>
    list.forEach((value, k) => {
      if (!parseCidr(value))
        problem(`${at}[${k}]`, `${JSON.stringify(value)} is not an IP address or CIDR block`);
    });
  const ports = (list: readonly number[], at: string) =>
    list.forEach((value, k) => {
      if (!isPort(value)) problem(`${at}[${k}]`, `${value} is not a port`);
    });
  policy.rules.forEach((rule, r) => {
    const rulePath = `${path}.rules[${r}]`;
    rule.from.forEach((source, f) => {
      cidrs(source.ipBlocks, `${rulePath}.from[${f}].ipBlocks`);
      cidrs(source.notIpBlocks, `${rulePath}.from[${f}].notIpBlocks`);
    });
    rule.to.forEach((target, t) => {
      ports(target.ports, `${rulePath}.to[${t}].ports`);
      ports(target.notPorts, `${rulePath}.to[${t}].notPorts`);
    });
    rule.when.forEach((condition, w) => {
      const at = `${rulePath}.when[${w}]`;
      if (condition.key === 'source.ip' || condition.key === 'destination.ip') {
        cidrs(condition.values, `${at}.values`);
        cidrs(condition.notValues, `${at}.notValues`);
      } else if (condition.key === 'destination.port') {
        ports(condition.values.map(Number), `${at}.values`);
        ports(condition.notValues.map(Number), `${at}.notValues`);
      }
    });
  });
}

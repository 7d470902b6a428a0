/**
 * Checks a snapshot before the store accepts it, so that a malformed push is refused (NACKed) as a whole
 * and the last good snapshot keeps serving. Every problem is reported with its path in the snapshot.
 */
import { parseSpiffeUri } from '../../core/identity.ts';
import type { L4Policy, NodeSnapshot } from '../../core/model/index.ts';
import { isPort } from '../../core/net/host-port.ts';
import { parseCidr, parseIp } from '../../core/net/ip.ts';

export function snapshotProblems(snapshot: NodeSnapshot): string[] {
  const problems: string[] = [];
  const problem = (path: string, message: string) => problems.push(`${path}: ${message}`);
  if (typeof snapshot.version !== 'string' || snapshot.version === '') problem('version', 'must be set');
  const uids = new Set<string>();
  snapshot.workloads.forEach((workload, i) => {
    const path = `workloads[${i}] (${workload.uid})`;
    if (uids.has(workload.uid)) problem(path, 'duplicate uid');
    uids.add(workload.uid);
    workload.ips.forEach((ip, j) => {
      if (!parseIp(ip)) problem(`${path}.ips[${j}]`, `${JSON.stringify(ip)} is not an IP address`);
    });
    if (!parseSpiffeUri(workload.identity)) {
      problem(`${path}.identity`, `${JSON.stringify(workload.identity)} is not a SPIFFE workload identity`);
    }
  });
  snapshot.services.forEach((service, i) => {
    const path = `services[${i}] (${service.namespace}/${service.name})`;
    service.vips.forEach((vip, j) => {
      if (!parseIp(vip)) problem(`${path}.vips[${j}]`, `${JSON.stringify(vip)} is not an IP address`);
    });
    service.ports.forEach((port, j) => {
      if (!isPort(port.port)) problem(`${path}.ports[${j}].port`, `${port.port} is not a port`);
      if (!isPort(port.targetPort) && port.targetPort !== 0) {
        problem(`${path}.ports[${j}].targetPort`, `${port.targetPort} is not a port`);
      }
    });
    service.endpoints.forEach((endpoint, j) => {
      if (!parseIp(endpoint.ip))
        problem(`${path}.endpoints[${j}].ip`, `${JSON.stringify(endpoint.ip)} is not an IP`);
    });
  });
  snapshot.policies.forEach((policy, i) => {
    policyProblems(policy, `policies[${i}] (${policy.namespace}/${policy.name})`, problem);
  });
  return problems;
}

function policyProblems(
  policy: L4Policy,
  path: string,
  problem: (path: string, message: string) => void,
): void {
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

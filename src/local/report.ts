/**
 * What `ambit local status` shows and `up` ends with: the cluster's records joined with the supervisor's
 * live status, as JSON (`-o json`, stable field names) or as tables.
 */

import { podProcessId, supervisorArgs } from './processes.ts';
import { findProcesses } from './procfs.ts';
import type { StatePaths } from './state.ts';
import {
  describeState,
  type PodMesh,
  type ProcessExit,
  type ProcessState,
  readSupervisorStatus,
} from './supervisor/status.ts';
import type { AddressPlan, ClusterState } from './types.ts';

export interface ProcessReport {
  status: string;
  state: ProcessState | 'unknown';
  ready: boolean;
  pid?: number | undefined;
  restarts: number;
  lastExit?: ProcessExit | undefined;
  message?: string | undefined;
}

export interface ClusterReport {
  name: string;
  stateDir: string;
  createdAt: string;
  addresses: AddressPlan;
  supervisor: { running: boolean; pid?: number | undefined };
  nodes: { name: string; netns: string; underlayIP: string; podCIDR: string }[];
  pods: ({
    uid: string;
    name: string;
    namespace: string;
    node: string;
    ip: string;
    serviceAccount: string;
    runAsUser: number;
    netns: string;
    /** Where the pod stands in the mesh, once the enrollment extension has said (absent: not known). */
    mesh?: PodMesh | undefined;
  } & ProcessReport)[];
  services: {
    name: string;
    namespace: string;
    clusterIP: string | undefined;
    ports: string[];
    pods: number;
  }[];
  system: ({ id: string; node?: string | undefined } & ProcessReport)[];
}

export function buildReport(cluster: ClusterState, paths: StatePaths): ClusterReport {
  const status = readSupervisorStatus(paths);
  const running = findProcesses(supervisorArgs(paths.dir));
  const byId = new Map((status?.processes ?? []).map((process) => [process.id, process]));
  const processReport = (id: string): ProcessReport => {
    const process = byId.get(id);
    return {
      status: running.length === 0 ? 'Unknown (supervisor not running)' : describeState(process),
      state: process?.state ?? 'unknown',
      ready: running.length > 0 && process?.ready === true,
      pid: process?.pid,
      restarts: process?.restarts ?? 0,
      lastExit: process?.lastExit,
      message: process?.message,
    };
  };
  const podIds = new Set(cluster.pods.map((pod) => podProcessId(pod)));
  return {
    name: cluster.name,
    stateDir: cluster.stateDir,
    createdAt: cluster.createdAt,
    addresses: cluster.addresses,
    supervisor: { running: running.length > 0, pid: running[0] },
    nodes: cluster.nodes.map((node) => ({
      name: node.name,
      netns: node.netns,
      underlayIP: node.underlayIP,
      podCIDR: node.podCIDR,
    })),
    pods: cluster.pods.map((pod) => ({
      uid: pod.uid,
      name: pod.name,
      namespace: pod.namespace,
      node: pod.node,
      ip: pod.ips[0]!,
      serviceAccount: pod.serviceAccount,
      runAsUser: pod.runAsUser,
      netns: pod.netns,
      mesh: running.length > 0 ? byId.get(podProcessId(pod))?.mesh : undefined,
      ...processReport(podProcessId(pod)),
    })),
    services: cluster.services.map((service) => ({
      name: service.name,
      namespace: service.namespace,
      clusterIP: service.clusterIP,
      ports: service.ports.map(
        (port) =>
          `${port.name ? `${port.name} ` : ''}${port.port}${port.nodePort ? `:${port.nodePort}` : ''}->${port.targetPort}/${port.protocol}`,
      ),
      pods: service.podUids.length,
    })),
    system: (status?.processes ?? [])
      .filter((process) => !podIds.has(process.id))
      .map((process) => ({ id: process.id, node: process.node, ...processReport(process.id) })),
  };
}

export function renderReport(report: ClusterReport): string {
  const sections = [
    `cluster ${report.name}: pods ${report.addresses.podCIDR}, services ${report.addresses.serviceCIDR} (DNS ${report.addresses.dnsVIP}), underlay ${report.addresses.underlayCIDR}`,
    `state ${report.stateDir}; supervisor ${report.supervisor.running ? `running (pid ${report.supervisor.pid})` : 'NOT RUNNING'}`,
    '',
    table(
      ['NODE', 'UNDERLAY IP', 'POD CIDR', 'NETNS'],
      report.nodes.map((node) => [node.name, node.underlayIP, node.podCIDR, node.netns]),
    ),
    '',
    table(
      ['NAMESPACE', 'POD', 'IP', 'NODE', 'READY', 'STATUS', 'RESTARTS', 'MESH', 'USER', 'SERVICE ACCOUNT'],
      report.pods.map((pod) => [
        pod.namespace,
        pod.name,
        pod.ip,
        pod.node,
        pod.ready ? 'yes' : 'no',
        pod.status,
        String(pod.restarts),
        pod.mesh?.state ?? '-',
        String(pod.runAsUser),
        pod.serviceAccount,
      ]),
    ),
  ];
  // Why a pod is not running, or not in the mesh as its labels say: the start gate's error says both.
  const notes = report.pods.flatMap((pod) => {
    const note = pod.message ?? pod.mesh?.message;
    return note === undefined ? [] : [`${pod.uid}: ${note}`];
  });
  if (notes.length > 0) sections.push('', ...notes);
  if (report.services.length > 0) {
    sections.push(
      '',
      table(
        ['NAMESPACE', 'SERVICE', 'CLUSTER-IP', 'PORTS', 'PODS'],
        report.services.map((service) => [
          service.namespace,
          service.name,
          service.clusterIP ?? 'None',
          service.ports.join(', '),
          String(service.pods),
        ]),
      ),
    );
  }
  if (report.system.length > 0) {
    sections.push(
      '',
      table(
        ['COMPONENT', 'NODE', 'READY', 'STATUS', 'RESTARTS', 'PID'],
        report.system.map((process) => [
          process.id,
          process.node ?? '-',
          process.ready ? 'yes' : 'no',
          process.status,
          String(process.restarts),
          String(process.pid ?? '-'),
        ]),
      ),
    );
  }
  return `${sections.join('\n')}\n`;
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('   ');
  return [line(headers), ...rows.map(line)].join('\n');
}

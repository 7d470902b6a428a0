/**
 * What `ambit local status` shows and `up` ends with: the cluster's records joined with the supervisor's
 * live status, as JSON (`-o json`, stable field names) or as tables.
 */

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { logFileFor, podProcessId, supervisorArgs } from './processes.ts';
import { findProcesses } from './procfs.ts';
import type { StatePaths } from './state.ts';
import {
  describeState,
  type PodMesh,
  type ProcessExit,
  type ProcessState,
  type ProcessStatus,
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
  /** Why it is not running or not ready, in words (see `notReadyReason`). */
  reason?: string | undefined;
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
    const reason =
      running.length > 0 && process
        ? notReadyReason(process, () => lastLogLine(logFileFor(paths, id)))
        : undefined;
    return {
      reason,
      status: running.length === 0 ? 'Unknown (supervisor not running)' : describeState(process),
      state: process?.state ?? 'unknown',
      ready: running.length > 0 && process?.ready === true,
      pid: process?.pid,
      restarts: process?.restarts ?? 0,
      lastExit: process?.lastExit,
      message: process?.message,
    };
  };
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
    // A pod's process outlives its record while the pod drains: it is still a pod, never a system process.
    system: (status?.processes ?? [])
      .filter((process) => process.kind === 'system')
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
  // Why a pod is not running or not ready, or not in the mesh as its labels say.
  const notes = report.pods.flatMap((pod) => {
    const note = pod.reason ?? pod.mesh?.message;
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

/**
 * Why a process is not running or not ready: the supervisor's message (start gate, spawn error, a probe
 * that had it killed), else its last exit with the last line it logged, else the failing probe.
 */
export function notReadyReason(
  process: Pick<ProcessStatus, 'state' | 'ready' | 'message' | 'probe' | 'lastExit'>,
  lastLine: () => string | undefined,
): string | undefined {
  const exit = process.lastExit;
  const exitText = exit
    ? `${exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`}${suffix(lastLine())}`
    : undefined;
  switch (process.state) {
    case 'backoff':
    case 'failed':
      return process.message ? `${process.message}${exitText ? `; ${exitText}` : ''}` : exitText;
    case 'waiting':
      return process.message;
    case 'running':
      if (process.ready) return undefined;
      return process.probe ?? process.message ?? 'not listening on its declared ports yet';
    default:
      return undefined;
  }
}

function suffix(line: string | undefined): string {
  return line ? `; last log line: ${line}` : '';
}

/** The last non-empty line of a log file (reading only its end). */
function lastLogLine(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = statSync(file).size;
    const length = Math.min(size, 4096);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines = buffer
      .toString('utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    return lines.at(-1)?.slice(0, 300);
  } finally {
    closeSync(fd);
  }
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

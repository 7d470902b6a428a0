/**
 * vagrant/ for real: host set-up, the locally built box, two VMs (TCG here: the host's /dev/kvm is PVM),
 * and what they must and must not do. The VMs reach each other over the run's `veryisolated` mesh network;
 * neither reaches the host's sockets nor anything beyond it; the checkout arrives with the host's
 * node_modules, so the pinned Node 24 runs Ambit in them with nothing downloaded. Then one Ambit mesh
 * spans the two VMs (`ambit local up --span-nodes`, the mesh network as underlay): a pod on VM 2 calls a
 * Service whose endpoint is a pod on VM 1, the host's capture of VM 1's port on that network shows HBONE
 * and TLS only (never the request's marker), and a DENY applied on VM 1 refuses VM 2's pod until it is
 * deleted. Destroy leaves no domain, network or pool of the run behind (checked by listing libvirt, even
 * when a test failed), and the host set-up is undone if this run did it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_PORTS, ZTUNNEL_PORTS } from '../../src/core/ports.ts';
import { nodeNetns } from '../../src/local/names.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { NODE_GATEWAY_PORT } from '../../src/local/span/span.ts';
import { Capture, servicePort } from '../support/capture.ts';
import { eventually } from '../support/eventually.ts';
import {
  authorizationPolicyDoc,
  clusterDoc,
  echoPod,
  manifests,
  namespaceDoc,
  podDoc,
  serviceDoc,
} from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { VagrantRun } from '../support/vagrant-run.ts';

/** The mesh network's addresses: they exist only on the VMs' eth1, on a bridge the host has no address on. */
const MESH_IP = ['10.99.0.11', '10.99.0.12'] as const;
const NODES = ['node-1', 'node-2'] as const;
const ECHO_PORT = 8080;
/**
 * Ambit in a VM: the checkout and the pinned Node rsynced from the host. Its clusters' state lives on a disk
 * rather than in the default /run/ambit: systemd mounts /run noexec, and every process of a cluster is
 * started through a shim in its state directory. Node's compile cache: an emulated guest compiles the CLI's
 * modules for seconds at every start (the test starts it dozens of times); cached, a start costs less than
 * half the CPU.
 */
const AMBIT =
  'cd /ambit && AMBIT_STATE_DIR=/var/lib/ambit NODE_COMPILE_CACHE=/var/cache/ambit-node-compile node_modules/node/bin/node bin/ambit.mjs';
/** Where each VM keeps the span's files (the same cluster file on both, VM 2's join bundle). */
const SPAN_DIR = '/root/ambit-span';
/** An emulated guest starts a Node process in tens of seconds; a cluster's processes in minutes. */
const SPAN_TIMEOUT_MS = 1_200_000;
/** One pod on each VM's node: VM 1's answers a Service, VM 2's calls it. */
const SPAN_NODES = ['n1', 'n2'] as const;
const CLIENT_PRINCIPAL = 'cluster.local/ns/apps/sa/client';

describe.runIf(canRunNetnsTests())('two Vagrant VMs', () => {
  const run = new VagrantRun({ nodes: 2, cpus: 1, memoryMb: 1024 });
  const timed = <T>(phase: string, work: () => Promise<T>) => run.timed(phase, work);
  const scratch = mkdtempSync(join(tmpdir(), 'ambit-vagrant-test-'));
  let hostListener: Server | undefined;
  let hostConnections = 0;
  /** The span's cluster: named after the run, so two runs' VMs never share a name. */
  const cluster = run.prefix;
  const ambitIn = (node: string, args: string, timeoutMs = 600_000) =>
    run.ssh(node, `${AMBIT} ${args}`, timeoutMs);
  const reportOf = async (node: string) =>
    JSON.parse(await ambitIn(node, `local status --name ${cluster} -o json`)) as ClusterReport;
  /** The client pod on VM 2 asks the Service `server.apps` on VM 1 (curl's exit status and output). */
  const callServer = (path: string, curlArgs = '') =>
    run.sshFailing(
      NODES[1],
      `${AMBIT} local exec client -n apps --name ${cluster} -- curl -sS --max-time 30 ${curlArgs} http://server.apps/${path}`,
      600_000,
    );

  beforeAll(async () => {
    await run.up();
    await Promise.all(
      NODES.map((node, i) => run.ssh(node, `ip addr add ${MESH_IP[i]}/24 dev eth1 && ip link set eth1 up`)),
    );
  }, 1_800_000);

  afterAll(async () => {
    hostListener?.close();
    rmSync(scratch, { recursive: true, force: true });
    await run.destroy();
    console.log(`vagrant timings (s): ${JSON.stringify(run.timings)}`);
    expect(run.leftovers()).toEqual({ domains: [], networks: [], pools: [] });
    // The host as the run found it: set up only if it was before.
    expect(await run.restoreHost()).toBe(!run.setUpHost);
  }, 600_000);

  it('gives the VMs no path off the machine and no way into the host', async () => {
    // Host side: neither network forwards, the mesh network has no host address, nothing is masqueraded.
    const managementXml = virsh('net-dumpxml', `${run.prefix}-mgmt`);
    const meshXml = virsh('net-dumpxml', `${run.prefix}-mesh`);
    expect(managementXml).not.toContain('<forward');
    expect(meshXml).not.toContain('<forward');
    expect(meshXml).not.toContain('<ip');
    const nat = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
    expect(nat).not.toContain(run.managementNet);
    expect(nat).not.toMatch(/MASQUERADE.*virbr|virbr.*MASQUERADE/);

    // VM side: no default route, so an outside address is refused before any packet leaves.
    for (const node of NODES) {
      expect(await run.ssh(node, 'ip -4 route show default')).toBe('');
      const outside = await run.sshFailing(node, 'ip route get 192.0.2.1');
      expect(outside.code).not.toBe(0);
      expect(outside.output).toMatch(/unreachable/i);
    }

    // The host's own sockets: a listener on the host's management address, refused to the VMs by INPUT rules.
    hostListener = createServer((socket) => {
      hostConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => hostListener!.listen(0, run.hostManagementIP, resolve));
    const port = (hostListener.address() as { port: number }).port;
    const refused = await run.sshFailing(
      NODES[1],
      `curl -sS --max-time 10 http://${run.hostManagementIP}:${port}/`,
    );
    expect(refused.code).not.toBe(0);
    // curl says "Couldn't connect to server" for the rule's reset (within milliseconds, not a timeout).
    expect(refused.output).toMatch(/reset|refused|couldn't connect/i);
    expect(refused.output).not.toMatch(/timed out/i);
    expect(hostConnections).toBe(0);
  });

  it('runs the pinned Node 24 from the node_modules prepared on the host', async () => {
    const version = await run.ssh(NODES[0], '/ambit/node_modules/node/bin/node --version');
    expect(version.trim()).toMatch(/^v24\./);
    const help = await run.ssh(
      NODES[0],
      'cd /ambit && node_modules/node/bin/node bin/ambit.mjs --help',
      300_000,
    );
    expect(help).toMatch(/^Usage: ambit <command>/);
    expect(help).toMatch(/^ {2}local +the local multi-node cluster/m);
  }, 600_000);

  it('carries a request from one VM to the other over the mesh network', async () => {
    await run.ssh(
      NODES[0],
      // A transient systemd unit: a process backgrounded from the ssh session would hold the session open.
      `systemd-run --unit=ambit-echo --working-directory=/ambit /ambit/node_modules/node/bin/node bin/ambit.mjs echo --host ${MESH_IP[0]} --port ${ECHO_PORT} --version vm1`,
    );
    const body = await run.ssh(
      NODES[1],
      `curl -sS --retry 60 --retry-delay 5 --retry-connrefused --max-time 10 http://${MESH_IP[0]}:${ECHO_PORT}/from-vm2`,
      600_000,
    );
    const report = JSON.parse(body) as { version?: string; request?: { path?: string; source?: string } };
    expect(report.version).toBe('vm1');
    expect(JSON.stringify(report)).toContain('/from-vm2');
    expect(JSON.stringify(report)).toContain(MESH_IP[1]);
  }, 900_000);

  it(
    'runs one mesh across the VMs: the control plane on VM 1, a node and a pod on each',
    async () => {
      const file = manifests(
        clusterDoc(cluster, { nodes: SPAN_NODES }),
        namespaceDoc('apps', { ambient: true }),
        echoPod('server', {
          namespace: 'apps',
          node: SPAN_NODES[0],
          serviceAccount: 'server',
          labels: { app: 'server' },
          version: 'vm1',
        }),
        podDoc('client', { namespace: 'apps', node: SPAN_NODES[1], serviceAccount: 'client' }),
        serviceDoc('server', { namespace: 'apps' }),
      );
      await Promise.all(NODES.map((node) => writeInVm(run, node, `${SPAN_DIR}/cluster.yaml`, file)));
      // VM 1 first: it runs n1, so the control plane and the node gateway; its bundle lets VM 2 join as n2.
      await timed('spanUpVm1Seconds', () =>
        ambitIn(
          NODES[0],
          `local up -f ${SPAN_DIR}/cluster.yaml --span-nodes ${SPAN_NODES[0]} --underlay-device eth1 --wait 20m`,
          SPAN_TIMEOUT_MS,
        ),
      );
      const bundle = await timed('joinBundleSeconds', () =>
        ambitIn(NODES[0], `local join-bundle --name ${cluster} --nodes ${SPAN_NODES[1]}`),
      );
      await writeInVm(run, NODES[1], `${SPAN_DIR}/join-${SPAN_NODES[1]}`, bundle);
      await timed('spanUpVm2Seconds', () =>
        ambitIn(
          NODES[1],
          `local up -f ${SPAN_DIR}/cluster.yaml --span-nodes ${SPAN_NODES[1]} --underlay-device eth1 --join ${SPAN_DIR}/join-${SPAN_NODES[1]} --wait 20m`,
          SPAN_TIMEOUT_MS,
        ),
      );
      // Each VM runs its own node's pod and system processes, all ready.
      const readyOn = (node: string, spanNode: string) =>
        eventually(
          async () => {
            const report = await reportOf(node);
            const mine = [
              ...report.pods.filter((pod) => pod.node === spanNode),
              ...report.system.filter((process) => process.node === spanNode),
            ];
            return mine.length > 0 && mine.every((process) => process.ready) && report;
          },
          {
            what: `every process of ${spanNode} ready on ${node}`,
            timeout: SPAN_TIMEOUT_MS,
            interval: 5_000,
          },
        );
      const [first, second] = await timed('spanReadySeconds', () =>
        Promise.all([readyOn(NODES[0], SPAN_NODES[0]), readyOn(NODES[1], SPAN_NODES[1])]),
      );
      expect(first.system.find((process) => process.id === 'control-plane')?.node).toBe(SPAN_NODES[0]);
      expect(first.system.find((process) => process.id === 'node-gateway')?.node).toBe(SPAN_NODES[0]);
      expect(second.system.map((process) => process.id)).not.toContain('control-plane');
      // The control plane holds both pods: VM 2's reported through the node gateway.
      const control = await ambitIn(NODES[0], `control status --name ${cluster}`);
      expect(control).toContain('pods: 2');
    },
    SPAN_TIMEOUT_MS * 3,
  );

  it(
    "carries the pod on VM 2's request to a Service on VM 1 in HBONE only, with the client's identity",
    async () => {
      const marker = `ambit-marker-${randomBytes(8).toString('hex')}`;
      const capture = await Capture.start(meshPortOf(run, NODES[0]), join(scratch, 'span.pcap'));
      let answer: { code: number; output: string };
      try {
        answer = await callServer(marker, `-H 'x-ambit-marker: ${marker}' -w '\\n%{http_code}'`);
      } finally {
        await capture.stop();
      }
      expect(answer.code, answer.output).toBe(0);
      const [body, status] = splitStatus(answer.output);
      expect(status).toBe('200');
      const report = JSON.parse(body) as { version?: string; request?: { path?: string } };
      expect(report.version).toBe('vm1');
      expect(report.request?.path).toBe(`/${marker}`);

      // On the wire between the VMs: the request crossed as HBONE (15008); the only other TCP is the control
      // plane's (xDS and CA on 15012, the node gateway on 15013), TLS as well; no other IP packet at all.
      const packets = capture.packets();
      const ports = new Set(packets.map((packet) => `${packet.protocol}/${servicePort(packet)}`));
      expect(ports).toContain(`tcp/${ZTUNNEL_PORTS.hbone}`);
      const allowed = [ZTUNNEL_PORTS.hbone, CONTROL_PLANE_PORTS.grpc, NODE_GATEWAY_PORT].map(
        (port) => `tcp/${port}`,
      );
      expect([...ports].filter((port) => !allowed.includes(port))).toEqual([]);
      // Neither the request nor the answer (both carry the marker) crossed in plaintext.
      expect(capture.contains(marker)).toBe(false);

      // VM 1's ztunnel took it as mTLS from the client's SPIFFE identity.
      const metrics = await run.ssh(
        NODES[0],
        `ip netns exec ${nodeNetns(cluster, SPAN_NODES[0])} curl -sS --max-time 30 http://127.0.0.1:${ZTUNNEL_PORTS.metrics}/metrics`,
      );
      const opened = metrics
        .split('\n')
        .filter(
          (line) =>
            line.startsWith('istio_tcp_connections_opened_total{') && line.includes('reporter="destination"'),
        );
      expect(opened.join('\n')).toMatch(
        new RegExp(
          `source_principal="spiffe://${CLIENT_PRINCIPAL}".*connection_security_policy="mutual_tls"|connection_security_policy="mutual_tls".*source_principal="spiffe://${CLIENT_PRINCIPAL}"`,
        ),
      );
    },
    SPAN_TIMEOUT_MS,
  );

  it(
    'enforces a DENY applied on VM 1 against the pod on VM 2, and lets it through once deleted',
    async () => {
      const policy = manifests(
        authorizationPolicyDoc('deny-client', {
          namespace: 'apps',
          app: 'server',
          action: 'DENY',
          principals: [CLIENT_PRINCIPAL],
        }),
      );
      await writeInVm(run, NODES[0], `${SPAN_DIR}/deny.yaml`, policy);
      await ambitIn(NODES[0], `apply --name ${cluster} -f ${SPAN_DIR}/deny.yaml`);
      // The refusal comes from VM 1's ztunnel once the policy reached it (pushed over xDS).
      const refused = await eventually(
        async () => {
          const attempt = await callServer('denied');
          return attempt.code !== 0 && attempt;
        },
        { what: 'the DENY refusing the client on VM 2', timeout: SPAN_TIMEOUT_MS, interval: 2_000 },
      );
      expect(refused.output).toMatch(/curl: \((52|56|7)\)/);
      await ambitIn(NODES[0], `delete --name ${cluster} -f ${SPAN_DIR}/deny.yaml`);
      const allowed = await eventually(
        async () => {
          const attempt = await callServer('allowed-again');
          return attempt.code === 0 && attempt;
        },
        {
          what: 'the client on VM 2 let through once the DENY is deleted',
          timeout: SPAN_TIMEOUT_MS,
          interval: 2_000,
        },
      );
      expect(allowed.output).toContain('/allowed-again');
    },
    SPAN_TIMEOUT_MS * 2,
  );

  it(
    'takes the span down on both VMs, the mesh device back on each',
    async () => {
      for (const node of [NODES[1], NODES[0]]) {
        await ambitIn(node, `local down --name ${cluster}`);
        expect(await run.ssh(node, 'ip netns list')).not.toContain(`ambit.${cluster}.`);
        expect(await run.ssh(node, 'ip -o link show eth1')).toContain('eth1');
      }
    },
    SPAN_TIMEOUT_MS,
  );
});

/** Writes `content` to `path` in VM `node` (base64 on the command line: the ssh session has no stdin). */
function writeInVm(run: VagrantRun, node: string, path: string, content: string): Promise<string> {
  const encoded = Buffer.from(content).toString('base64');
  return run.ssh(
    node,
    `mkdir -p -m 0700 $(dirname ${path}) && echo ${encoded} | base64 -d > ${path} && chmod 0600 ${path}`,
  );
}

/** The host side of VM `node`'s port on the run's mesh network (a tap on libvirt's bridge). */
function meshPortOf(run: VagrantRun, node: string): string {
  const interfaces = virsh('domiflist', `${run.prefix}-${node}`);
  const line = interfaces.split('\n').find((row) => row.includes(`${run.prefix}-mesh`));
  const tap = line?.trim().split(/\s+/)[0];
  if (!tap) throw new Error(`no port of ${node} on ${run.prefix}-mesh:\n${interfaces}`);
  return tap;
}

/** curl's `-w '\n%{http_code}'`: the body, then the status on the last line. */
function splitStatus(output: string): [string, string] {
  const cut = output.lastIndexOf('\n');
  return [output.slice(0, cut), output.slice(cut + 1).trim()];
}

function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });
}

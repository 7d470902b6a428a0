/**
 * vagrant/ for real: host set-up, the locally built box, two VMs (TCG here: the host's /dev/kvm is PVM),
 * and what they must and must not do. The VMs reach each other over the run's `veryisolated` mesh network;
 * neither reaches the host's sockets nor anything beyond it; the checkout arrives with the host's
 * node_modules, so the pinned Node 24 runs Ambit in them with nothing downloaded; and destroy leaves no
 * domain, network or pool of the run behind (checked by listing libvirt, even when a test failed).
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunNetnsTests } from '../support/privileges.ts';
import { VagrantRun } from '../support/vagrant-run.ts';

/** The mesh network's addresses: they exist only on the VMs' eth1, on a bridge the host has no address on. */
const MESH_IP = ['10.99.0.11', '10.99.0.12'] as const;
const NODES = ['node-1', 'node-2'] as const;
const ECHO_PORT = 8080;

describe.runIf(canRunNetnsTests())('two Vagrant VMs', () => {
  const run = new VagrantRun({ nodes: 2, cpus: 1, memoryMb: 768 });
  const timings: Record<string, number> = {};
  let hostListener: Server | undefined;
  let hostConnections = 0;

  beforeAll(async () => {
    const started = performance.now();
    await run.up();
    timings.upSeconds = (performance.now() - started) / 1000;
    await Promise.all(
      NODES.map((node, i) => run.ssh(node, `ip addr add ${MESH_IP[i]}/24 dev eth1 && ip link set eth1 up`)),
    );
  }, 1_800_000);

  afterAll(async () => {
    hostListener?.close();
    const started = performance.now();
    await run.destroy();
    timings.destroySeconds = (performance.now() - started) / 1000;
    console.log(`vagrant timings: ${JSON.stringify(timings)}`);
    expect(run.leftovers()).toEqual({ domains: [], networks: [], pools: [] });
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
});

function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });
}

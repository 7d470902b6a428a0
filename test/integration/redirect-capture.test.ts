/**
 * The capture rules, proven with real packets, for every backend (the same suite runs once per backend;
 * AMBIT_TEST_BACKENDS=nft,... narrows the matrix). A client namespace stands for the rest of the cluster
 * and, for the probe test, for the node; the pod namespace gets the rules and the plain capture listeners,
 * which answer each captured connection with what they saw (listener, peer, original destination).
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTcp, listenTcp, Netns } from '../../src/core/sys/netns-socket.ts';
import { BACKEND_NAMES, type BackendName } from '../../src/redirect/backend/types.ts';
import { createRunner } from '../../src/redirect/exec.ts';
import { AGENT_MARK, buildNodeProbeRules, PROBE_SOURCE } from '../../src/redirect/model.ts';
import { type CaptureReport, PlainCaptureHandler } from '../../src/redirect/plain-capture.ts';
import { applyRules, listRules, removeRules } from '../../src/redirect/rules.ts';
import { createNetnsPair, type NetnsPair, nsExec, uniqueSuffix } from '../support/netns-fixture.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const BACKENDS: BackendName[] = process.env.AMBIT_TEST_BACKENDS
  ? (process.env.AMBIT_TEST_BACKENDS.split(',') as BackendName[])
  : [...BACKEND_NAMES];

/** Connects with socat from inside a namespace and returns what the server said. */
function tcpFrom(netns: string, host: string, port: number): Promise<string> {
  const address = host.includes(':') ? `TCP6:[${host}]:${port}` : `TCP4:${host}:${port}`;
  return nsExec(netns, ['socat', '-T3', '-', address], '');
}

async function reportFrom(netns: string, host: string, port: number): Promise<CaptureReport> {
  return JSON.parse(await tcpFrom(netns, host, port)) as CaptureReport;
}

/** `dig` from inside a namespace; the plain DNS listener answers with the report as a TXT record. */
async function digFrom(netns: string, server: string, tcp: boolean): Promise<CaptureReport> {
  const args = [
    'dig',
    `@${server}`,
    '+short',
    '+time=2',
    '+tries=1',
    ...(tcp ? ['+tcp'] : []),
    'TXT',
    'who.example',
  ];
  const out = (await nsExec(netns, args)).trim();
  // dig prints TXT strings quoted, with inner quotes escaped.
  return JSON.parse(JSON.parse(out)) as CaptureReport;
}

/** An "app" inside a namespace: a listener that greets each connection with a fixed line. */
async function app(netns: Netns, address: string, port: number, greeting: string): Promise<net.Server> {
  const server = await listenTcp(netns, { address, port });
  server.on('connection', (socket) => {
    socket.on('error', () => {});
    socket.end(`${greeting} ${socket.remoteAddress}\n`);
  });
  return server;
}

/** What a namespace's firewall and policy routing look like, to compare before and after. */
function netnsState(netns: string, backend: BackendName): string {
  const run = (argv: string[]) => execFileSync('ip', ['netns', 'exec', netns, ...argv], { encoding: 'utf8' });
  const routing = [
    run(['ip', '-4', 'rule']),
    run(['ip', '-6', 'rule']),
    run(['ip', '-4', 'route', 'show', 'table', 'all']),
  ];
  if (backend === 'nft') return [run(['nft', 'list', 'ruleset']), ...routing].join('\n');
  // iptables leaves its tables behind, empty, once used; the rules and chains in them are what must match.
  const flavour = backend === 'iptables-nft' ? 'nft' : 'legacy';
  const rules = ['iptables', 'ip6tables'].flatMap((tool) =>
    run([`${tool}-${flavour}-save`])
      .split('\n')
      .filter((line) => line.startsWith('-A') || (line.startsWith(':') && !/^:[A-Z]+ ACCEPT/.test(line))),
  );
  return [...rules, ...routing].join('\n');
}

describe.runIf(canRunNetnsTests()).each(BACKENDS)('capture rules with the %s backend', (backend) => {
  let pair: NetnsPair;
  let pod: Netns;
  let client: Netns;
  const handler = new PlainCaptureHandler();
  const podUid = `default/app-${uniqueSuffix()}`;
  const closers: Array<{ close(): unknown }> = [];
  let before: string;

  beforeAll(async () => {
    pair = createNetnsPair('rc');
    pod = Netns.open(pair.podPath);
    client = Netns.open(pair.clientPath);
    before = netnsState(pair.pod, backend);
    await handler.addPod(
      {
        uid: podUid,
        name: 'app',
        namespace: 'default',
        serviceAccount: 'app',
        ips: [pair.podIp, pair.podIp6],
        netns: pair.podPath,
      },
      pod,
    );
    await applyRules({ path: pair.podPath }, { backend });
  });

  afterAll(async () => {
    for (const closer of closers) closer.close();
    await handler.removePod(podUid);
    pod?.close();
    client?.close();
    pair?.destroy();
  });

  it('installs exactly what it renders (listing == rendering), once, however often applied', async () => {
    await applyRules({ path: pair.podPath }, { backend });
    const listing = await listRules({ path: pair.podPath }, { backend });
    expect(listing.rules.backend).toBe(backend);
    expect(listing.rules.installed).toBe(true);
    expect(listing.rules.drift).toEqual([]);
    expect(listing.routes.drift).toEqual([]);
  });

  it.each([4, 6] as const)(
    'redirects outbound TCP (IPv%i) to 15001 and recovers the original destination',
    async (family) => {
      const destination = family === 4 ? '203.0.113.10' : '2001:db8::10';
      const report = await reportFrom(pair.pod, destination, 80);
      expect(report.listener).toBe('outbound');
      expect(report.pod).toBe(podUid);
      expect(report.original).toBe(family === 4 ? `${destination}:80` : `[${destination}]:80`);
      expect(report.local).toMatch(family === 4 ? /^127\.0\.0\.1:15001$/ : /^\[::1\]:15001$/);
    },
  );

  it.each([4, 6] as const)(
    'redirects inbound TCP (IPv%i) to 15006 and recovers the original destination',
    async (family) => {
      const [podIp, clientIp] = family === 4 ? [pair.podIp, pair.clientIp] : [pair.podIp6, pair.clientIp6];
      const report = await reportFrom(pair.client, podIp, 8080);
      expect(report.listener).toBe('inbound');
      expect(report.original).toBe(family === 4 ? `${podIp}:8080` : `[${podIp}]:8080`);
      expect(report.peer).toMatch(new RegExp(`^\\[?${clientIp}\\]?:\\d+$`));
    },
  );

  it('does not capture inbound TCP to 15008 (HBONE): it reaches that listener directly', async () => {
    const report = await reportFrom(pair.client, pair.podIp, 15008);
    expect(report.listener).toBe('hbone');
    expect(report.local).toBe(`${pair.podIp}:15008`);
  });

  it('does not capture connections of sockets marked 0x539 (and does capture the same connection unmarked)', async () => {
    const remote = await app(client, pair.clientIp, 0, 'remote app');
    closers.push(remote);
    const port = (remote.address() as net.AddressInfo).port;
    const read = async (mark: number | undefined) => {
      const socket = await connectTcp(pod, { address: pair.clientIp, port, mark });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      await once(socket, 'end');
      socket.destroy();
      return Buffer.concat(chunks).toString();
    };
    expect(await read(AGENT_MARK)).toBe(`remote app ${pair.podIp}\n`);
    expect((JSON.parse(await read(undefined)) as CaptureReport).listener).toBe('outbound');
  });

  it('does not capture loopback, nor the pod talking to its own address', async () => {
    closers.push(await app(pod, '0.0.0.0', 9000, 'local app'));
    expect(await tcpFrom(pair.pod, '127.0.0.1', 9000)).toBe('local app 127.0.0.1\n');
    expect(await tcpFrom(pair.pod, pair.podIp, 9000)).toBe(`local app ${pair.podIp}\n`);
  });

  it.each([
    ['UDP', '203.0.113.53', false],
    ['UDP', '10.200.0.1', false],
    ['UDP', '2001:db8::53', false],
    ['TCP', '203.0.113.53', true],
  ] as const)('sends DNS over %s to any nameserver (%s) to 15053', async (_proto, server, tcp) => {
    const report = await digFrom(pair.pod, server, tcp);
    expect(report.listener).toBe('dns');
    expect(report.protocol).toBe(tcp ? 'tcp' : 'udp');
    if (tcp) expect(report.original).toBe(`${server}:53`);
  });

  it('routes replies to a spoofed-source agent connection back to the agent (connmark 0x111)', async () => {
    // The agent delivers to the app inside the pod with the original client's address as source.
    const podApp = await app(pod, '0.0.0.0', 0, 'pod app');
    closers.push(podApp);
    const socket = await connectTcp(pod, {
      address: pair.podIp,
      port: (podApp.address() as net.AddressInfo).port,
      mark: AGENT_MARK,
      transparent: true,
      localAddress: pair.clientIp,
      timeoutMs: 3000,
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    socket.destroy();
    expect(Buffer.concat(chunks).toString()).toBe(`pod app ${pair.clientIp}\n`);
  });

  it('exempts health probes SNATed to the probe address by the node-side rule', async () => {
    // The client namespace plays the node: its probe rule rewrites the source of connections to the pod.
    const probes = buildNodeProbeRules([pair.podIp]);
    const runner = createRunner();
    const podApp = await app(pod, '0.0.0.0', 8082, 'probed app');
    closers.push(podApp);
    await applyRules({ path: pair.clientPath }, { backend, ruleSet: probes, runner });
    try {
      expect(await tcpFrom(pair.client, pair.podIp, 8082)).toBe(`probed app ${PROBE_SOURCE[4]}\n`);
      const listing = await listRules({ path: pair.clientPath }, { backend, ruleSet: probes, runner });
      expect(listing.rules.drift).toEqual([]);
    } finally {
      await removeRules({ path: pair.clientPath }, { backend, ruleSet: probes, runner });
    }
  });

  it('removes exactly what it installed, leaving the namespace as it was and traffic uncaptured', async () => {
    await removeRules({ path: pair.podPath }, { backend });
    await removeRules({ path: pair.podPath }, { backend });
    expect(netnsState(pair.pod, backend)).toBe(before);
    const listing = await listRules({ path: pair.podPath }, { backend });
    expect(listing.rules.installed).toBe(false);
    const remote = await app(client, pair.clientIp, 0, 'remote app');
    closers.push(remote);
    expect(await tcpFrom(pair.pod, pair.clientIp, (remote.address() as net.AddressInfo).port)).toBe(
      `remote app ${pair.podIp}\n`,
    );
  });
});

describe.runIf(canRunNetnsTests()).each(BACKENDS)('a failed apply with the %s backend', (backend) => {
  it('fails closed and leaves nothing behind', async () => {
    // A namespace whose loopback is down: the IPv6 reply route cannot be added, after the rules went in.
    const name = `rf-${uniqueSuffix()}`;
    execFileSync('ip', ['netns', 'add', name]);
    try {
      const target = { path: `/run/netns/${name}` };
      await expect(applyRules(target, { backend })).rejects.toThrow(
        /policy routing failed.*Nexthop device is not up/,
      );
      const listing = await listRules(target, { backend });
      expect(listing.rules.installed).toBe(false);
      expect(execFileSync('ip', ['-n', name, '-4', 'rule'], { encoding: 'utf8' })).not.toMatch(/0x111/);
    } finally {
      execFileSync('ip', ['netns', 'del', name]);
    }
  });

  it('keeps rules that were already installed when a re-apply fails (no fail-open on resync)', async () => {
    const name = `rk-${uniqueSuffix()}`;
    execFileSync('ip', ['netns', 'add', name]);
    try {
      const target = { path: `/run/netns/${name}` };
      execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      await applyRules(target, { backend });
      // The same failure as above, now on a pod that is already captured.
      execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'down']);
      execFileSync('ip', ['-n', name, '-6', 'route', 'flush', 'table', 'all']);
      await expect(applyRules(target, { backend })).rejects.toThrow(/policy routing failed/);
      const listing = await listRules(target, { backend });
      expect(listing.rules.installed).toBe(true);
      expect(listing.rules.drift).toEqual([]);
    } finally {
      execFileSync('ip', ['netns', 'del', name]);
    }
  });
});

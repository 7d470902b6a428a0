/**
 * Pod enrollment end to end on one node: a runtime (EnrollmentClient) enrolls and unenrolls a pod whose
 * process keeps running (a label change), the agent (CaptureAgent with the plain capture listeners) installs
 * rules and listeners in the pod's namespace, fails closed when it cannot, and resyncs after restarts of
 * either side. Real namespaces, rules and processes; the backend is the automatic choice.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureLogging } from '../../src/core/log.ts';
import { listenTcp, Netns } from '../../src/core/sys/netns-socket.ts';
import { CaptureAgent } from '../../src/redirect/agent.ts';
import { EnrollmentClient } from '../../src/redirect/enroll/client.ts';
import type { EnrolledPod } from '../../src/redirect/enroll/protocol.ts';
import { EnrollmentServer } from '../../src/redirect/enroll/server.ts';
import { PlainCaptureHandler } from '../../src/redirect/plain-capture.ts';
import { listRules } from '../../src/redirect/rules.ts';
import { eventually } from '../support/eventually.ts';
import { createNetnsPair, type NetnsPair, nsExec, uniqueSuffix } from '../support/netns-fixture.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

configureLogging({ write: () => {} });

/** What a client in `netns` gets from host:port: the first line, or the connection error. */
async function answerFrom(netns: string, host: string, port: number): Promise<string> {
  try {
    return (await nsExec(netns, ['socat', '-T3', '-', `TCP4:${host}:${port}`], '')).trim();
  } catch (error) {
    return `failed: ${(error as Error).message.includes('Connection refused') ? 'refused' : 'other'}`;
  }
}

const listenerOf = (answer: string) =>
  answer.startsWith('{') ? (JSON.parse(answer) as { listener: string }).listener : answer;

describe.runIf(canRunNetnsTests())('pod enrollment', () => {
  let pair: NetnsPair;
  let dir: string;
  let socketPath: string;
  let agent: CaptureAgent;
  let server: EnrollmentServer;
  let runtime: EnrollmentClient;
  let app: ChildProcess;
  let pod: EnrolledPod;

  async function startAgent(): Promise<void> {
    agent = new CaptureAgent({ handler: new PlainCaptureHandler() });
    server = await EnrollmentServer.listen(socketPath, agent);
  }

  async function stopAgent(): Promise<void> {
    await server.close();
    await agent.close();
  }

  const rulesInstalled = async () => (await listRules({ path: pair.podPath })).rules.installed;

  beforeAll(async () => {
    pair = createNetnsPair('re');
    dir = mkdtempSync(join(tmpdir(), 'ambit-agent-'));
    socketPath = join(dir, 'node-1', 'enroll.sock');
    pod = {
      uid: `default/web-${uniqueSuffix()}`,
      name: 'web',
      namespace: 'default',
      serviceAccount: 'web',
      ips: [pair.podIp],
      netns: pair.podPath,
    };
    // The pod's process: an app answering "app" on 8080, started before enrollment and kept running.
    app = spawn(
      'ip',
      ['netns', 'exec', pair.pod, 'socat', 'TCP4-LISTEN:8080,fork,reuseaddr', 'SYSTEM:echo app'],
      {
        stdio: 'ignore',
      },
    );
    await eventually(async () => (await answerFrom(pair.client, pair.podIp, 8080)) === 'app', {
      what: 'the app to answer',
    });
    await startAgent();
    runtime = new EnrollmentClient(socketPath, { requestTimeoutMs: 10_000 });
    await runtime.connect();
  });

  afterAll(async () => {
    runtime?.close();
    await stopAgent().catch(() => {});
    app?.kill();
    pair?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('captures a running pod when it is enrolled, without restarting it', async () => {
    const pid = app.pid;
    await runtime.enroll(pod);
    expect(agent.pods.map((p) => p.uid)).toEqual([pod.uid]);
    expect(listenerOf(await answerFrom(pair.client, pair.podIp, 8080))).toBe('inbound');
    expect(listenerOf(await answerFrom(pair.pod, '203.0.113.7', 443))).toBe('outbound');
    const listing = await listRules({ path: pair.podPath });
    expect([listing.rules.installed, listing.rules.drift, listing.routes.drift]).toEqual([true, [], []]);
    expect(app.exitCode).toBe(null);
    expect(app.pid).toBe(pid);
  });

  it('releases it on unenroll: rules gone, listeners closed, the app reachable again, still running', async () => {
    await runtime.unenroll(pod.uid);
    expect(agent.pods).toEqual([]);
    expect(await rulesInstalled()).toBe(false);
    expect(await answerFrom(pair.client, pair.podIp, 8080)).toBe('app');
    expect(await answerFrom(pair.pod, '127.0.0.1', 15001)).toBe('failed: refused');
    expect(app.exitCode).toBe(null);
  });

  it('captures it again when enrolled again', async () => {
    await runtime.enroll(pod);
    expect(listenerOf(await answerFrom(pair.client, pair.podIp, 8080))).toBe('inbound');
  });

  it('keeps capture closed while the agent is down, and resumes after it restarts', async () => {
    await stopAgent();
    // Rules stay, listeners are gone: traffic is refused, never delivered uncaptured.
    expect(await rulesInstalled()).toBe(true);
    expect(await answerFrom(pair.client, pair.podIp, 8080)).toBe('failed: refused');
    await startAgent();
    // The runtime's client reconnects and resyncs on its own.
    await expect.poll(() => agent.pods.map((p) => p.uid), { timeout: 10_000 }).toEqual([pod.uid]);
    expect(listenerOf(await answerFrom(pair.client, pair.podIp, 8080))).toBe('inbound');
  });

  it('drops pods missing from the snapshot of a restarted runtime', async () => {
    const restarted = new EnrollmentClient(socketPath, { requestTimeoutMs: 10_000 });
    try {
      expect(await restarted.snapshot([])).toEqual({ failed: [] });
    } finally {
      restarted.close();
    }
    expect(agent.pods).toEqual([]);
    expect(await rulesInstalled()).toBe(false);
    expect(await answerFrom(pair.client, pair.podIp, 8080)).toBe('app');
  });

  it('refuses a pod whose namespace does not exist', async () => {
    await expect(
      runtime.enroll({ ...pod, uid: 'default/ghost', netns: '/run/netns/ambit-no-such' }),
    ).rejects.toMatchObject({
      code: 'ENROLL_NETNS',
    });
  });

  it('fails closed when the rules cannot be installed: nack, and no rules or listeners left', async () => {
    // Loopback down: the IPv6 reply route cannot be added, so the apply fails after the listeners opened.
    const name = `rb-${uniqueSuffix()}`;
    execFileSync('ip', ['netns', 'add', name]);
    const broken = Netns.open(`/run/netns/${name}`);
    try {
      const error = await runtime
        .enroll({ ...pod, uid: 'default/broken', netns: `/run/netns/${name}` })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ENROLL_CAPTURE' });
      expect((error as Error).message).toMatch(/Nexthop device is not up/);
      expect(agent.pods).toEqual([]);
      expect((await listRules({ path: `/run/netns/${name}` })).rules.installed).toBe(false);
      // The capture ports are free again: the listeners were closed.
      const probe = await listenTcp(broken, { address: '0.0.0.0', port: 15001 });
      probe.close();
    } finally {
      broken.close();
      execFileSync('ip', ['netns', 'del', name]);
    }
  });
});

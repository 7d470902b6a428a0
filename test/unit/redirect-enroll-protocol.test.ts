/**
 * The enrollment protocol over a real unix socket, with a handler that records what the agent was asked
 * (the capture agent itself, with real namespaces and rules, is tested in test/integration/redirect-enroll).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AmbitError, publicCode } from '../../src/core/errors.ts';
import { configureLogging } from '../../src/core/log.ts';
import { EnrollmentClient } from '../../src/redirect/enroll/client.ts';
import { enrollSocketPath } from '../../src/redirect/enroll/paths.ts';
import {
  type EnrolledPod,
  EnrollmentError,
  MAX_MESSAGE_BYTES,
  parseAgentMessage,
  parseClientMessage,
} from '../../src/redirect/enroll/protocol.ts';
import { type EnrollmentHandler, EnrollmentServer } from '../../src/redirect/enroll/server.ts';

configureLogging({ write: () => {} });

const pod = (name: string): EnrolledPod => ({
  uid: `default/${name}`,
  name,
  namespace: 'default',
  serviceAccount: 'sa',
  ips: ['10.244.1.5', 'fd00::5'],
  netns: `/run/netns/${name}`,
});

class RecordingHandler implements EnrollmentHandler {
  readonly calls: string[] = [];
  readonly failures = new Map<string, AmbitError>();
  addDelayMs = 0;

  async add(p: EnrolledPod): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.addDelayMs));
    const failure = this.failures.get(p.uid);
    if (failure) throw failure;
    this.calls.push(`add ${p.uid}`);
  }

  async remove(uid: string, netns: string | undefined): Promise<void> {
    this.calls.push(`remove ${uid}${netns ? ` ${netns}` : ''}`);
  }

  async retainOnly(uids: ReadonlySet<string>): Promise<void> {
    this.calls.push(`retain ${[...uids].sort().join(',')}`);
  }
}

/** Sends raw lines and collects the lines the agent sends back until it closes the connection. */
function rawExchange(socketPath: string, payload: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data.split('\n').filter(Boolean)));
    socket.write(payload);
  });
}

describe('protocol messages', () => {
  it('parses a valid add', () => {
    expect(parseClientMessage(JSON.stringify({ type: 'add', id: 7, pod: pod('a') }))).toEqual({
      type: 'add',
      id: 7,
      pod: pod('a'),
    });
  });

  it.each([
    ['not json', /not JSON/],
    [JSON.stringify({ type: 'launch', id: 1 }), /type: invalid value "launch"/],
    [
      JSON.stringify({ type: 'add', id: 1, pod: { ...pod('a'), ips: undefined } }),
      /pod\.ips: required field is missing/,
    ],
    [
      JSON.stringify({ type: 'add', id: 1, pod: { ...pod('a'), ips: ['10.0.0.1', 'ten'] } }),
      /pod\.ips\[1\]: "ten" is not an IP address/,
    ],
    [
      JSON.stringify({ type: 'add', id: 1, pod: { ...pod('a'), netns: 'rel/path' } }),
      /pod\.netns: .*must be an absolute path/,
    ],
    [JSON.stringify({ type: 'add', id: 1, pod: { ...pod('a'), extra: 1 } }), /pod\.extra: unknown field/],
    [JSON.stringify({ type: 'remove', id: 0, uid: 'x' }), /id: /],
    [JSON.stringify({ type: 'add', id: 1, pod: { ...pod('a'), uid: '' } }), /pod\.uid: must not be empty/],
  ])('refuses %s, naming the field', (line, message) => {
    expect(() => parseClientMessage(line)).toThrow(message);
  });

  it('parses agent answers', () => {
    expect(
      parseAgentMessage(
        `{"type":"nack","id":3,"error":{"code":"${publicCode('NOT_FOUND')}","message":"no"}}`,
      ),
    ).toEqual({
      type: 'nack',
      id: 3,
      error: { code: publicCode('NOT_FOUND'), message: 'no' },
    });
    expect(() => parseAgentMessage('{"type":"ack"}')).toThrow(/id: required field is missing/);
  });

  it('places the socket under /run/ambit/<cluster>/<node>/', () => {
    expect(enrollSocketPath('demo', 'node-1')).toBe('/run/ambit/demo/node-1/enroll.sock');
  });
});

describe('agent and client over a unix socket', () => {
  let dir: string;
  let socketPath: string;
  let handler: RecordingHandler;
  let server: EnrollmentServer;
  const clients: EnrollmentClient[] = [];

  const client = (options: ConstructorParameters<typeof EnrollmentClient>[1] = {}) => {
    const c = new EnrollmentClient(socketPath, { requestTimeoutMs: 3000, ...options });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ambit-enroll-'));
    socketPath = join(dir, 'node', 'enroll.sock');
    handler = new RecordingHandler();
    server = await EnrollmentServer.listen(socketPath, handler);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the socket for root only', () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
  });

  it('acks an add once the agent has captured the pod, and a remove', async () => {
    const c = client();
    await c.enroll(pod('a'));
    expect(handler.calls).toEqual(['add default/a']);
    expect(c.enrolled.map((p) => p.uid)).toEqual(['default/a']);
    await c.unenroll('default/a');
    expect(handler.calls).toEqual(['add default/a', 'remove default/a /run/netns/a']);
    expect(c.enrolled).toEqual([]);
  });

  it("rejects with the agent's own error on a nack, and forgets the pod", async () => {
    handler.failures.set('default/b', new AmbitError('ENROLL_CAPTURE', 'pod default/b: no rules for you'));
    const c = client();
    const error = await c.enroll(pod('b')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnrollmentError);
    expect(error).toMatchObject({
      code: 'ENROLL_CAPTURE',
      message: 'pod default/b: no rules for you',
    });
    expect(c.enrolled).toEqual([]);
  });

  it('ends a snapshot only after its adds, then keeps exactly the snapshot', async () => {
    handler.addDelayMs = 50;
    handler.failures.set('default/bad', new AmbitError('ENROLL_NETNS', 'gone'));
    const result = await client().snapshot([pod('a'), pod('c'), pod('bad')]);
    expect(result.failed.map((f) => [f.uid, f.error.code])).toEqual([['default/bad', 'ENROLL_NETNS']]);
    expect(handler.calls.slice(0, 2).sort()).toEqual(['add default/a', 'add default/c']);
    expect(handler.calls[2]).toBe('retain default/a,default/bad,default/c');
  });

  it('fails an enroll fast, with UNAVAILABLE, when no agent answers', async () => {
    const c = new EnrollmentClient(join(dir, 'nobody-here.sock'), { requestTimeoutMs: 300 });
    clients.push(c);
    await expect(c.enroll(pod('a'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('resyncs a restarted agent on its own, including removals made while it was away', async () => {
    const resyncs: unknown[] = [];
    const c = client({ onResync: (result) => resyncs.push(result) });
    await c.enroll(pod('a'));
    await c.enroll(pod('b'));
    await server.close(); // the agent goes away...
    const removal = c.unenroll('default/b'); // ...while the runtime unenrolls a pod
    handler = new RecordingHandler();
    server = await EnrollmentServer.listen(socketPath, handler); // a new agent, knowing nothing
    await removal;
    await expect.poll(() => resyncs.length, { timeout: 5000 }).toBe(1);
    expect(handler.calls).toContain('remove default/b /run/netns/b');
    expect(handler.calls).toContain('add default/a');
    expect(handler.calls).not.toContain('add default/b');
    expect(handler.calls.at(-1)).toBe('retain default/a');
    expect(resyncs).toEqual([{ failed: [] }]);
  });

  it.each([
    [
      'a version it does not speak',
      '{"type":"hello","version":2}\n',
      new RegExp(`${publicCode('BAD_REQUEST')}.*version 2 is not supported`),
    ],
    [
      'a request before hello',
      `${JSON.stringify({ type: 'add', id: 1, pod: pod('a') })}\n`,
      /expected hello first/,
    ],
    [
      'a malformed message (and nothing after it is acted on)',
      `{"type":"hello","version":1}\n{"type":"remove","id":1}\n${JSON.stringify({ type: 'add', id: 2, pod: pod('x') })}\n`,
      /uid: required field is missing/,
    ],
    ['an endless line', `${'x'.repeat(MAX_MESSAGE_BYTES + 10)}`, /longer than/],
  ])('closes a connection that sends %s, and serves the next one', async (_what, payload, expected) => {
    const lines = await rawExchange(socketPath, payload);
    expect(lines.at(-1)).toMatch(expected);
    expect(JSON.parse(lines.at(-1)!).type).toBe('error');
    expect(handler.calls).toEqual([]);
    await client().enroll(pod('a'));
    expect(handler.calls).toEqual(['add default/a']);
  });

  it('refuses to start a second agent on a live socket, and replaces a stale one', async () => {
    await expect(EnrollmentServer.listen(socketPath, handler)).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const stale = join(dir, 'stale.sock');
    writeFileSync(stale, '');
    const other = await EnrollmentServer.listen(stale, handler);
    await other.close();
  });
});

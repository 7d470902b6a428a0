/**
 * The control API answers every failure with the HTTP status the error catalogue gives its code (a system
 * failure or a bug is a 5xx, never the client's 400), with the public code in the body, and the client
 * turns that body back into the same error. A real server on a unix socket, real requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHandlers, serveApi } from '../../src/control/api/server.ts';
import { ConfigError } from '../../src/core/config/issues.ts';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import { AmbitError, ERRORS, type ErrorCode, publicCode, SystemError } from '../../src/core/errors.ts';
import { recordingLogger } from '../support/logging.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-api-errors-'));
const socket = join(dir, 'control.sock');
/** What the `status` handler throws next. */
let failure: unknown;
const { log, lines } = recordingLogger();

const handlers: ApiHandlers = {
  status: () => {
    throw failure;
  },
  rollout: async () => ({ revision: 1, version: '1', timedOut: false, clients: [] }),
  awaitPushed: async () => ({ revision: 1, version: '1', timedOut: false, clients: [] }),
  apply: () => ({ revision: 1, created: [], configured: [], unchanged: [], issues: [] }),
  delete: () => ({ revision: 1, deleted: [], notFound: [], issues: [] }),
  get: () => [],
  reportPod: () => ({ pods: 0 }),
  removePod: () => ({ removed: false }),
  syncNodePods: () => ({ pods: 0 }),
  listPods: () => ({ pods: [] }),
};

function raw(method: string, path: string, body?: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let server: Server;
beforeAll(async () => {
  server = await serveApi(socket, handlers, log);
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('control API errors', () => {
  it.each<[string, unknown, ErrorCode]>([
    ['a refused request', new AmbitError('BAD_REQUEST', 'bad pod report'), 'BAD_REQUEST'],
    ['a missing resource', new AmbitError('NOT_FOUND', 'no such thing'), 'NOT_FOUND'],
    ['a conflict', new AmbitError('CONFLICT', 'already there'), 'CONFLICT'],
    ['a system failure', new SystemError('cannot write the state file', 'ENOSPC'), 'SYSTEM'],
    ['corrupt state', new AmbitError('STATE_CORRUPT', 'state.json is not JSON'), 'STATE_CORRUPT'],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'x')"), 'INTERNAL'],
  ])('answers %s with the status of its code', async (_what, error, code) => {
    failure = error;
    const { status, json } = await raw('GET', '/v1/status');
    expect(status).toBe(ERRORS[code].http);
    expect(json).toEqual({ error: { code: publicCode(code), message: (error as Error).message } });
    // The client gets the same error back.
    await expect(new ControlApiClient(socket).status()).rejects.toMatchObject({
      code,
      message: (error as Error).message,
    });
  });

  it('logs the failures that are not the client’s, and only those', async () => {
    lines.length = 0;
    failure = new AmbitError('NOT_FOUND', 'client side');
    await raw('GET', '/v1/status');
    expect(lines).toEqual([]);
    failure = new SystemError('disk full', 'ENOSPC');
    await raw('GET', '/v1/status');
    expect(lines).toMatchObject([{ level: 'error', fields: { error: 'disk full: ENOSPC' } }]);
  });

  it('answers config errors with 422 and every issue, and the client rebuilds the ConfigError', async () => {
    failure = new ConfigError([
      { severity: 'error', source: { file: 'a.yaml', document: 2 }, path: 'spec.action', message: 'bad' },
    ]);
    const { status, json } = await raw('GET', '/v1/status');
    expect(status).toBe(422);
    expect(json).toMatchObject({
      error: { code: publicCode('CONFIG_INVALID'), issues: [{ path: 'spec.action' }] },
    });
    const error = await new ControlApiClient(socket).status().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toHaveLength(1);
  });

  it.each<[string, string, string, string | undefined, ErrorCode]>([
    ['an unknown route', 'GET', '/v1/nothing', undefined, 'NOT_FOUND'],
    ['a body that is not JSON', 'POST', '/v1/apply', '{not json', 'BAD_REQUEST'],
    ['a body of the wrong shape', 'POST', '/v1/apply', '{"files": 3}', 'BAD_REQUEST'],
    ['a resource query without a kind', 'GET', '/v1/resources', undefined, 'BAD_REQUEST'],
  ])('answers %s from the router itself', async (_what, method, path, body, code) => {
    const { status, json } = await raw(method, path, body);
    expect(status).toBe(ERRORS[code].http);
    expect(json).toMatchObject({ error: { code: publicCode(code) } });
  });

  it('answers an oversized apply (issue 8: 50 MB) with 413, not a reset', async () => {
    const body = JSON.stringify({ files: [{ name: 'big.yaml', content: 'x'.repeat(50 * 1024 * 1024) }] });
    const { status, json } = await raw('POST', '/v1/apply', body);
    expect(status).toBe(413);
    expect(json).toMatchObject({ error: { code: publicCode('TOO_LARGE') } });
  });
});

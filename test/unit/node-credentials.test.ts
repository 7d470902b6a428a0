/** Node credentials: the files `ambit local up` creates, and the control plane's authentication by them. */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { TokenFileAuthenticator } from '../../src/control/auth/node-authenticator.ts';
import { controlPaths } from '../../src/core/control-api/paths.ts';
import {
  createNodeCredential,
  readNodeToken,
  removeNodeCredential,
} from '../../src/core/node-credentials.ts';
import { FakeClock } from '../support/fake-clock.ts';

const state = mkdtempSync(join(tmpdir(), 'ambit-node-cred-'));
afterAll(() => rmSync(state, { recursive: true, force: true }));

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

describe('node credentials', () => {
  it('are random tokens in 0600 files under a 0700 directory, created once', () => {
    const first = createNodeCredential(state, 'node-a');
    expect(first.tokenFile).toBe(join(state, 'nodes', 'node-a.token'));
    expect(statSync(first.tokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(controlPaths(state).nodeTokens).mode & 0o777).toBe(0o700);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(createNodeCredential(state, 'node-a').token).toBe(first.token);
    expect(createNodeCredential(state, 'node-b').token).not.toBe(first.token);
    expect(readNodeToken(first.tokenFile)).toBe(first.token);
  });

  it('refuse node names that are not DNS names (or could escape the directory)', () => {
    expect(() => createNodeCredential(state, '../etc')).toThrow('invalid node name "../etc"');
    expect(() => createNodeCredential(state, 'Node_A')).toThrow('invalid node name');
  });

  it('authenticate a caller as its node, and refuse unknown, missing or removed credentials', async () => {
    const clock = new FakeClock();
    const authenticator = new TokenFileAuthenticator(controlPaths(state).nodeTokens, clock);
    const a = createNodeCredential(state, 'node-a');
    expect(await authenticator.authenticate(bearer(a.token))).toEqual({ node: 'node-a' });
    await expect(authenticator.authenticate(bearer('nope'))).rejects.toThrow('unknown node credential');
    await expect(authenticator.authenticate(new Metadata())).rejects.toThrow('missing node credential');
    // A credential created while running is picked up once the directory is checked again: at most every
    // second while callers are known, and within 100 ms for an unknown one (however many calls arrive).
    const c = createNodeCredential(state, 'node-c');
    await clock.advance(99);
    await expect(authenticator.authenticate(bearer(c.token))).rejects.toThrow('unknown node credential');
    await clock.advance(1);
    expect(await authenticator.authenticate(bearer(c.token))).toEqual({ node: 'node-c' });
    // Unknown credentials, however many, do not check the directory more than ten times a second.
    const d = createNodeCredential(state, 'node-d');
    await clock.advance(50);
    for (let i = 0; i < 10; i++)
      await expect(authenticator.authenticate(bearer(d.token))).rejects.toThrow('unknown node credential');
    await clock.advance(50);
    expect(await authenticator.authenticate(bearer(d.token))).toEqual({ node: 'node-d' });
    // A removed one stops working the same way; other files in the directory are no credentials.
    removeNodeCredential(state, 'node-c');
    writeFileSync(join(state, 'nodes', 'README'), 'not a token');
    expect(await authenticator.authenticate(bearer(c.token))).toEqual({ node: 'node-c' });
    await clock.advance(1000);
    await expect(authenticator.authenticate(bearer(c.token))).rejects.toThrow('unknown node credential');
    expect(await authenticator.authenticate(bearer(a.token))).toEqual({ node: 'node-a' });
  });
});

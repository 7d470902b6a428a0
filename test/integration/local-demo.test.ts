/**
 * `ambit local demo` end to end, as a user runs it: the cluster comes up, requests cross nodes by pod IP and
 * by Service name through the mesh, the destination ztunnel reports the callers' mTLS identities, a DENY
 * policy stops the request and its deletion restores it, and the cluster is removed with nothing left.
 */

import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ambit } from '../support/cli.ts';
import { leftovers, makeStateRoot, NOTHING_LEFT, uniqueName } from '../support/local-cluster.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

describe.runIf(canRunNetnsTests())('the demo', () => {
  const stateRoot = makeStateRoot();
  const name = uniqueName('demo');

  afterAll(async () => {
    await ambit(['local', 'down', '--name', name], { stateRoot });
    rmSync(stateRoot, { recursive: true, force: true });
  });

  it('shows cross-node requests, mTLS identities, a policy taking effect and a waypoint act, then cleans up', async () => {
    const result = await ambit(['local', 'demo', '--name', name], { stateRoot });
    // On failure, the demo's own output says which step failed and why.
    const transcript = `demo exit status ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
    expect(result.stdout + result.stderr, transcript).not.toMatch(/request failed|did not|internal error/);
    expect(result.code, transcript).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(
      /answered by pod echo-\S+ \(namespace demo, node node-2, version v\d\);\nit saw GET \/hello from (\d+\.){3}\d+:/,
    );
    expect(out).toMatch(/By Service name, through the mesh:[\s\S]*answered by pod echo-v\S+ on node-\d/);
    expect(out).toMatch(
      /client -> echo: \d+ connection\(s\), source_principal=spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client, security=mutual_tls/,
    );
    expect(out).toMatch(/the same request now fails: curl: \(\d+\)/);
    expect(out).toContain('and once deleted it succeeds again');
    // The waypoint act: deployed and Programmed, a canary split (both versions answer, v1 the most), an L7 deny.
    expect(out).toMatch(/waypoint demo\/waypoint is Programmed at 10\.244\.\d+\.\d+/);
    const split = /200 answers: v1 (\d+), v2 (\d+)/.exec(out);
    expect(split, out).not.toBeNull();
    expect(Number(split![1]) + Number(split![2])).toBe(200);
    expect(Number(split![2])).toBeGreaterThan(0);
    expect(Number(split![1])).toBeGreaterThan(Number(split![2]));
    expect(out).toContain('GET /admin/users -> 403 (RBAC: access denied), GET /hello -> 200');
    // The retry act: the flaky upstream's failures show, then retries hide every one of them.
    const flaky = /(\d+) of 20 succeeded\n/.exec(out);
    expect(Number(flaky?.[1]), out).toBeLessThan(20);
    expect(out).toContain('20 of 20 succeeded: the waypoint retried each 503');
    expect(out).toMatch(/cluster \S+ removed/);
    expect(leftovers(name, stateRoot)).toEqual(NOTHING_LEFT);
  });
});

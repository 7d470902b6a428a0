/**
 * Issue 8: a flood of full TLS handshakes at 15008 (no client certificate, so each costs the server a
 * private-key signature and is then refused) from one address. At the default limits the ztunnel admits
 * `maxHandshakesPerSourcePerSecond` of them per second from that address and resets the rest before TLS,
 * counted as `handshake-rate`; a healthy loop through the mesh, from another address, sees no failure, and
 * the flooding address gets its handshakes again once its rate has recovered.
 */
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HBONE_SERVER_LIMITS } from '../../src/core/hbone/limits.ts';
import { ZTUNNEL_PORTS } from '../../src/core/ports.ts';
import { ended, healthyLoop } from '../support/attack-kit.ts';
import { eventually } from '../support/eventually.ts';
import { sumOf } from '../support/metric-values.ts';
import { APP_PORT, startTwoNodeMesh, type TwoNodeMesh } from '../support/two-node-mesh.ts';
import { exchange } from '../support/ztunnel-harness.ts';

const FLOOD = 400;

let mesh: TwoNodeMesh;

beforeAll(async () => {
  mesh = await startTwoNodeMesh({});
  await eventually(() => mesh.zb.readiness().ready, { what: 'node-b ready' });
});

afterAll(async () => {
  await mesh?.close();
});

/** A TLS handshake without a client certificate: the server signs, then refuses it. Resolves when closed. */
const anonymousHandshake = () => {
  const socket = tlsConnect({
    host: mesh.ip(21),
    port: ZTUNNEL_PORTS.hbone,
    servername: 'hbone.ambit.internal',
    ALPNProtocols: ['h2'],
    rejectUnauthorized: false,
  });
  socket.on('error', () => {});
  return ended(socket);
};

describe('HBONE (15008) under a flood of full TLS handshakes from one address', () => {
  it('admits its rate, resets the rest before TLS and counts them, and the healthy loop never fails', async () => {
    const request = async () => {
      const socket = mesh.h.capture.connect(mesh.ip(11), { ip: mesh.ip(21), port: APP_PORT });
      const { received, outcome } = await exchange(socket, 'ping');
      if (received.toString() !== 'ping' || outcome !== 'closed')
        throw new Error(`got ${JSON.stringify(received.toString())} (${outcome})`);
    };
    await request();
    const rateBefore = await sumOf(mesh.zb.metrics.hboneRefused, { reason: 'handshake-rate' });
    const tlsBefore = await sumOf(mesh.zb.metrics.hboneRefused, { reason: 'tls-handshake' });
    const loop = healthyLoop(request, 500);
    const started = performance.now();
    await Promise.all(Array.from({ length: FLOOD }, anonymousHandshake));
    const floodSeconds = (performance.now() - started) / 1000;
    const { ok, failed, firstError } = await loop.stop();
    expect({ failed, firstError }).toEqual({ failed: 0, firstError: undefined });
    expect(ok).toBeGreaterThan(0);
    const counted = async () => ({
      rate: (await sumOf(mesh.zb.metrics.hboneRefused, { reason: 'handshake-rate' })) - rateBefore,
      tls: (await sumOf(mesh.zb.metrics.hboneRefused, { reason: 'tls-handshake' })) - tlsBefore,
    });
    // Every connection of the flood is counted once, under one reason or the other.
    const { rate, tls } = await eventually(
      async () => {
        const now = await counted();
        return now.rate + now.tls === FLOOD ? now : undefined;
      },
      { what: `each of the ${FLOOD} refusals counted once` },
    );
    // Those admitted (the burst, and the refill while the flood ran, however long the machine took) completed
    // their handshake and were refused for want of a certificate; every other one was reset before TLS.
    const perSecond = DEFAULT_HBONE_SERVER_LIMITS.maxHandshakesPerSourcePerSecond;
    expect(tls).toBeGreaterThanOrEqual(perSecond);
    expect(tls).toBeLessThanOrEqual(perSecond + Math.ceil(perSecond * floodSeconds) + 1);
    expect(rate).toBe(FLOOD - tls);
    // Once its rate has recovered, the same address gets a handshake again.
    await eventually(
      async () => {
        const before = await sumOf(mesh.zb.metrics.hboneRefused, { reason: 'tls-handshake' });
        await anonymousHandshake();
        return (await sumOf(mesh.zb.metrics.hboneRefused, { reason: 'tls-handshake' })) > before;
      },
      { what: 'a handshake admitted again', timeout: 10_000, interval: 500 },
    );
  });
});

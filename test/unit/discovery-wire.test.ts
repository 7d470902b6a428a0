/**
 * Responses serialized from per-resource pieces (`control/discovery/wire.ts`) are the messages the generated
 * serializer makes of the whole (the same fields, `resources` last), and the client's deserializer reads them
 * back as sent.
 */
import { describe, expect, it } from 'vitest';
import { serializedDiscoveryService, serializeResponse } from '../../src/control/discovery/wire.ts';
import { encodeResource } from '../../src/core/discovery/resources.ts';
import { type DiscoveryResponseMessage, discoveryService } from '../../src/core/grpc/protos.ts';

const generated = discoveryService().Stream!;
const whole = generated.responseSerialize as (value: DiscoveryResponseMessage) => Buffer;
const read = generated.responseDeserialize as (bytes: Buffer) => DiscoveryResponseMessage;

const workload = (uid: string, ip: string) =>
  encodeResource({ type: 'workload', name: uid, value: { uid, ips: [ip] } });
const a = workload('apps/a', '10.244.0.5');
const b = workload('apps/b', '10.244.0.6');
// Lengths that take two and three bytes as varints, and a field left empty.
const large = encodeResource({
  type: 'workload',
  name: 'apps/l',
  value: { uid: 'apps/l', pad: 'x'.repeat(20_000) },
});
const unnamed = { ...workload('apps/u', '10.244.0.7'), name: '' };

describe('discovery responses serialized per resource', () => {
  it.each<[string, DiscoveryResponseMessage]>([
    ['no resources (a confirmation)', { version: '3', nonce: 'n1', resources: [], removed: [] }],
    ['resources in order', { version: '4', nonce: 'n2', resources: [a, b], removed: [] }],
    [
      'resources and removals',
      {
        version: '5',
        nonce: 'n3',
        resources: [b],
        removed: [{ type: 'workload', name: 'apps/c', version: '' }],
      },
    ],
    [
      'a large resource and an empty field',
      { version: '7', nonce: 'n5', resources: [large, unnamed], removed: [] },
    ],
    [
      'a chunk with more to come',
      { version: '6', nonce: 'n4', resources: [a, b, a], removed: [], more: true },
    ],
  ])('%s: the message the whole one serialized is', (_name, message) => {
    const bytes = serializeResponse(message).toBuffer();
    expect(bytes.length).toBe(whole(message).length);
    const back = read(bytes);
    expect(back).toEqual(read(whole(message)));
    expect(back.version).toBe(message.version);
    expect(back.nonce).toBe(message.nonce);
    expect(back.resources.map((r) => [r.type, r.name, r.version, r.body.toString()])).toEqual(
      message.resources.map((r) => [r.type, r.name, r.version, r.body.toString()]),
    );
    expect(back.removed.map((r) => r.name)).toEqual(message.removed.map((r) => r.name));
    expect(back.more).toBe(message.more ?? false);
  });

  it('a block of resources is the bytes of its resources one after another', () => {
    const block = { resources: [a, large], bodyBytes: a.body.length + large.body.length };
    const message = { version: '8', nonce: 'n6', removed: [] };
    const blocked = serializeResponse({ ...message, resources: [block, b] }).toBuffer();
    expect(blocked).toEqual(whole({ ...message, resources: [a, large, b] }));
    // Reused: the second response carrying it is the same bytes.
    expect(serializeResponse({ ...message, resources: [block, b] }).toBuffer()).toEqual(blocked);
  });

  it('the service hands grpc-js the pieces, which it frames as it frames a Buffer', () => {
    const message = serializeResponse({ version: '1', nonce: 'n', resources: [a, large], removed: [] });
    const passThrough = serializedDiscoveryService.Stream!.responseSerialize as (value: unknown) => Buffer;
    const handed = passThrough(message);
    expect(handed).toBe(message);
    // What grpc-js's serializeMessage does with a serializer's result: a 5-byte prefix, then `copy`.
    const frame = Buffer.allocUnsafe(handed.byteLength + 5);
    frame.writeUInt8(0, 0);
    frame.writeUInt32BE(handed.byteLength, 1);
    expect(handed.copy(frame, 5)).toBe(handed.byteLength);
    expect(frame.subarray(5)).toEqual(
      whole({ version: '1', nonce: 'n', resources: [a, large], removed: [] }),
    );
  });
});

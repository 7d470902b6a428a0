/** Large pushes in bounded chunks: how the control plane splits a response and how a client gathers it. */
import { describe, expect, it } from 'vitest';
import { ChunkGatherer, chunkResponse } from '../../src/core/discovery/chunks.ts';
import { ResourceError } from '../../src/core/discovery/resources.ts';
import type { DiscoveryResponseMessage } from '../../src/core/grpc/protos.ts';

const resource = (name: string, bytes: number) => ({
  type: 'workload',
  name,
  version: '1',
  body: Buffer.alloc(bytes, 0x20),
});
const response = (sizes: number[], nonce = 'n1'): DiscoveryResponseMessage => ({
  version: 'v1',
  nonce,
  resources: sizes.map((size, i) => resource(`r${i}`, size)),
  removed: [{ type: 'workload', name: 'gone', version: '' }],
});
const shape = (chunks: DiscoveryResponseMessage[]) =>
  chunks.map((chunk) => ({
    names: chunk.resources.map((r) => r.name).join(','),
    more: chunk.more ?? false,
    removed: chunk.removed.length,
  }));

describe('chunkResponse', () => {
  it.each([
    ['small: one message, as before', [10, 10], [{ names: 'r0,r1', more: false, removed: 1 }]],
    [
      'split at the bound; removals travel with the last chunk',
      [60, 50, 30],
      [
        { names: 'r0', more: true, removed: 0 },
        { names: 'r1,r2', more: false, removed: 1 },
      ],
    ],
    [
      'a resource larger than the bound travels alone',
      [10, 300, 10],
      [
        { names: 'r0', more: true, removed: 0 },
        { names: 'r1', more: true, removed: 0 },
        { names: 'r2', more: false, removed: 1 },
      ],
    ],
    ['nothing but removals', [], [{ names: '', more: false, removed: 1 }]],
  ] as [string, number[], ReturnType<typeof shape>][])('%s', (_name, sizes, expected) => {
    const chunks = chunkResponse(response(sizes), 100);
    expect(shape(chunks)).toEqual(expected);
    expect(new Set(chunks.map((chunk) => `${chunk.version}/${chunk.nonce}`))).toEqual(new Set(['v1/n1']));
  });
});

describe('ChunkGatherer', () => {
  it('gives back the whole response when its last chunk arrives, and nothing before', () => {
    const whole = response([60, 50, 30, 80]);
    const gatherer = new ChunkGatherer(1000);
    const results = chunkResponse(whole, 100).map((chunk) => gatherer.add(chunk));
    expect(results.slice(0, -1)).toEqual([undefined, undefined]);
    expect(results.at(-1)).toEqual({ ...whole, more: undefined });
  });

  it('passes an unchunked response through', () => {
    const whole = response([10]);
    expect(new ChunkGatherer(1000).add(whole)).toBe(whole);
  });

  it('refuses chunks beyond its bound once, drops the rest of that response, then takes the next', () => {
    const gatherer = new ChunkGatherer(150);
    const chunks = chunkResponse(response([100, 100, 100, 10]), 100);
    expect(gatherer.add(chunks[0]!)).toBeUndefined();
    expect(() => gatherer.add(chunks[1]!)).toThrow(ResourceError);
    expect(chunks.slice(2).map((chunk) => gatherer.add(chunk))).toEqual([undefined, undefined]);
    const next = response([10], 'n2');
    expect(gatherer.add(next)).toBe(next);
  });

  it('refuses a response that interrupts the chunks of another', () => {
    const gatherer = new ChunkGatherer(1000);
    gatherer.add(chunkResponse(response([60, 60]), 100)[0]!);
    expect(() => gatherer.add(response([10], 'n2'))).toThrow(/interrupted the chunks of response n1/);
    const fresh = response([10], 'n3');
    expect(gatherer.add(fresh)).toBe(fresh);
  });

  it('forgets a partial response when its stream is lost', () => {
    const gatherer = new ChunkGatherer(1000);
    gatherer.add(chunkResponse(response([60, 60]), 100)[0]!);
    gatherer.reset();
    const fresh = response([10], 'n2');
    expect(gatherer.add(fresh)).toBe(fresh);
  });
});

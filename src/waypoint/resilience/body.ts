/**
 * The request body for an attempt loop: read up to the replay limit; a body that ends within it is kept and
 * every attempt gets a fresh stream of the same bytes; a longer one goes up once as a stream of what was
 * read and the rest (Envoy: a request whose body overflowed the retry buffer is not retried).
 */
import { Readable } from 'node:stream';

export type RequestBody =
  | { kind: 'none' }
  /** Complete and small enough to send again. */
  | { kind: 'buffered'; chunks: Buffer[]; bytes: number }
  /** Only one attempt can read it. */
  | { kind: 'streaming'; stream: Readable };

/** Reads `source` until it ends or passes `limit` bytes. */
export async function readForReplay(source: Readable, limit: number): Promise<RequestBody> {
  const iterator: AsyncIterator<Buffer> = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let bytes = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return { kind: 'buffered', chunks, bytes };
    chunks.push(next.value);
    bytes += next.value.length;
    if (bytes > limit) return { kind: 'streaming', stream: Readable.from(rest(chunks, iterator)) };
  }
}

async function* rest(head: Buffer[], iterator: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return;
    yield next.value;
  }
}

/** The stream an attempt sends (undefined: no body). A streaming body can be read by the first attempt only. */
export function attemptBody(body: RequestBody): Readable | undefined {
  if (body.kind === 'none') return undefined;
  if (body.kind === 'streaming') return body.stream;
  return Readable.from(body.chunks, { objectMode: false });
}

/** Whether the body allows another attempt. */
export function replayable(body: RequestBody): boolean {
  return body.kind !== 'streaming';
}

/**
 * Large pushes travel in bounded chunks: one response (a version and a nonce) is split into several
 * messages, each at most `chunkBytes` of resource bodies, all but the last flagged `more`. The client gathers
 * them and applies the whole once the last arrives, so a view of any size never depends on a message limit,
 * and what a client buffers meanwhile is bounded. Both ends live here so that they cannot disagree.
 */
import type { DiscoveryResponseMessage, ResourceMessage, ResourceVersionMessage } from '../grpc/protos.ts';
import { ResourceError } from './resources.ts';

/** The resource bytes one message carries at most (a single larger resource travels alone). */
export const PUSH_CHUNK_BYTES = 1024 * 1024;

/** What chunking weighs: a resource by its body, or a block of resources serialized together by theirs. */
export type ChunkPart = { body: Buffer } | { bodyBytes: number };

/** A response as chunking sees it: its resources (or blocks of them) and its removals. */
export interface ChunkedResponse<Part extends ChunkPart> {
  version: string;
  nonce: string;
  resources: Part[];
  removed: ResourceVersionMessage[];
  more?: boolean;
}

const partBytes = (part: ChunkPart) => ('body' in part ? part.body.length : part.bodyBytes);

/** `response` as the messages to write, in order. */
export function chunkResponse<Part extends ChunkPart>(
  response: ChunkedResponse<Part>,
  chunkBytes = PUSH_CHUNK_BYTES,
): ChunkedResponse<Part>[] {
  const chunks: ChunkedResponse<Part>[] = [];
  let resources: Part[] = [];
  let bytes = 0;
  for (const resource of response.resources) {
    const size = partBytes(resource);
    if (resources.length > 0 && bytes + size > chunkBytes) {
      chunks.push({ version: response.version, nonce: response.nonce, resources, removed: [], more: true });
      resources = [];
      bytes = 0;
    }
    resources.push(resource);
    bytes += size;
  }
  chunks.push({ version: response.version, nonce: response.nonce, resources, removed: response.removed });
  return chunks;
}

/** Gathers a response's chunks on the client; bounded by `maxBytes` of resource bodies. */
export class ChunkGatherer {
  private readonly maxBytes: number;
  private pending: { nonce: string; resources: ResourceMessage[]; bytes: number } | undefined;
  /** The response whose remaining chunks are dropped after it was refused (NACKed once). */
  private discarding: string | undefined;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /**
   * The whole response once `message` completes it, undefined while more chunks are due. Throws a
   * ResourceError (the client NACKs) when the chunks exceed the bound or a chunk of another response
   * interrupts them.
   */
  add(message: DiscoveryResponseMessage): DiscoveryResponseMessage | undefined {
    if (this.discarding === message.nonce) {
      if (!message.more) this.discarding = undefined;
      return undefined;
    }
    const pending = this.pending;
    if (pending && pending.nonce !== message.nonce) {
      this.refuse(message);
      throw new ResourceError(
        `response ${message.nonce} interrupted the chunks of response ${pending.nonce}`,
      );
    }
    let bytes = pending?.bytes ?? 0;
    for (const resource of message.resources) bytes += resource.body.length;
    if (bytes > this.maxBytes) {
      // Dropped at once: a peer that keeps sending chunks must not make the client hold them.
      this.refuse(message);
      throw new ResourceError(`response of more than ${this.maxBytes} bytes of resources; not applied`);
    }
    if (message.more) {
      if (pending) {
        for (const resource of message.resources) pending.resources.push(resource);
        pending.bytes = bytes;
      } else {
        this.pending = { nonce: message.nonce, resources: [...message.resources], bytes };
      }
      return undefined;
    }
    this.pending = undefined;
    if (!pending) return message;
    for (const resource of message.resources) pending.resources.push(resource);
    return {
      version: message.version,
      nonce: message.nonce,
      resources: pending.resources,
      removed: message.removed,
    };
  }

  /** Forgets a partial response (its stream was lost). */
  reset(): void {
    this.pending = undefined;
    this.discarding = undefined;
  }

  private refuse(message: DiscoveryResponseMessage): void {
    this.pending = undefined;
    this.discarding = message.more ? message.nonce : undefined;
  }
}

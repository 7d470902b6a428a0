/**
 * Discovery responses serialized once per resource, not once per client: a resource's protobuf bytes (its
 * `resources` field of a DiscoveryResponse) are made the first time any client is sent it and kept while the
 * resource is (its encoding is one shared object, `server.ts`), and a response is those bytes appended to its
 * own few fields (by the generated serializer). Protobuf merges a message's fields in whatever order they come,
 * and a repeated field's occurrences in order, so the result is the very message the generated serializer
 * would make of the whole. Without this, every client's initial snapshot was serialized whole, once
 * per client: the control plane's largest cost at fan-out.
 *
 * A response is handed to grpc-js as its pieces (`SerializedMessage`), not joined: grpc-js frames a message by
 * reading its `byteLength` and copying it (`copy`) into the frame it allocates, so the pieces are copied once,
 * straight into the frame. Joined first, every byte of every client's snapshot was copied twice, and the
 * second copy's buffers (a megabyte per chunk) were the garbage collections of a fan-out.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { ChunkedResponse } from '../../core/discovery/chunks.ts';
import type { EncodedResource } from '../../core/discovery/resources.ts';
import { discoveryService } from '../../core/grpc/protos.ts';
import type { ResourceBlock } from './generation.ts';

type Serialize = (value: unknown) => Buffer;

const definition = discoveryService();
const stream = definition.Stream!;
const serialize = stream.responseSerialize as Serialize;

/** A serialized response as its pieces in order: what grpc-js reads of a serialized message, and no more. */
export class SerializedMessage {
  readonly byteLength: number;
  private readonly parts: readonly Buffer[];

  constructor(parts: readonly Buffer[]) {
    this.parts = parts;
    let length = 0;
    for (const part of parts) length += part.length;
    this.byteLength = length;
  }

  /** Copies the message into `target` at `at` (as `Buffer.copy` does); returns the bytes copied. */
  copy(target: Buffer, at = 0): number {
    let offset = at;
    for (const part of this.parts) offset += part.copy(target, offset);
    return offset - at;
  }

  /** The message as one buffer (for tests and anything that needs it whole). */
  toBuffer(): Buffer {
    const whole = Buffer.allocUnsafe(this.byteLength);
    this.copy(whole);
    return whole;
  }
}

/** The discovery service whose responses are written already serialized (`serializeResponse`). */
export const serializedDiscoveryService: ServiceDefinition = {
  ...definition,
  // grpc-js takes it for the Buffer a serializer returns: it reads only `byteLength` and `copy` (see above).
  Stream: { ...stream, responseSerialize: (value: SerializedMessage) => value as unknown as Buffer },
};

const resourceBytes = new WeakMap<EncodedResource, Buffer>();
const blockBytes = new WeakMap<ResourceBlock, Buffer>();

/** Protobuf's wire type of length-delimited fields (strings, bytes, messages). */
const LENGTH_DELIMITED = 2;
/** `DiscoveryResponse.resources` and the fields of `Resource`, as `proto/ambit/discovery/v1` numbers them. */
const RESPONSE_RESOURCES = 3;
const RESOURCE_FIELDS = ['type', 'name', 'version', 'body'] as const;

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[at++] = value;
  return at;
}

/**
 * One `resources` entry of a DiscoveryResponse, written by hand: the generated serializer's fixed cost per
 * call (object conversion, a writer) was most of the fan-out's serialization, and a resource is four
 * length-delimited fields. Every field is written, empty ones too, as the generated serializer writes what is
 * set; the unit test holds it to that serializer's output.
 */
function serializedResource(resource: EncodedResource): Buffer {
  let bytes = resourceBytes.get(resource);
  if (bytes !== undefined) return bytes;
  const fields = RESOURCE_FIELDS.map((field) =>
    field === 'body' ? resource.body : Buffer.from(resource[field], 'utf8'),
  );
  let inner = 0;
  for (const field of fields) inner += 1 + varintLength(field.length) + field.length;
  bytes = Buffer.allocUnsafe(1 + varintLength(inner) + inner);
  let at = writeVarint(bytes, 0, (RESPONSE_RESOURCES << 3) | LENGTH_DELIMITED);
  at = writeVarint(bytes, at, inner);
  fields.forEach((field, index) => {
    at = writeVarint(bytes!, at, ((index + 1) << 3) | LENGTH_DELIMITED);
    at = writeVarint(bytes!, at, field.length);
    at += field.copy(bytes!, at);
  });
  resourceBytes.set(resource, bytes);
  return bytes;
}

/** A block's resources serialized as one piece, once (a block is kept by its generation). */
function serializedBlock(block: ResourceBlock): Buffer {
  let bytes = blockBytes.get(block);
  if (bytes === undefined) {
    bytes = Buffer.concat(block.resources.map(serializedResource));
    blockBytes.set(block, bytes);
  }
  return bytes;
}

/**
 * `message` serialized, each of its resources' (and blocks of resources') bytes reused from any earlier
 * response that carried it.
 */
export function serializeResponse(
  message: ChunkedResponse<EncodedResource | ResourceBlock>,
): SerializedMessage {
  const parts = [serialize({ ...message, resources: [] })];
  for (const part of message.resources)
    parts.push('resources' in part ? serializedBlock(part) : serializedResource(part));
  return new SerializedMessage(parts);
}

/**
 * Discovery responses serialized once per resource, not once per client: a resource's protobuf bytes (its
 * `resources` field of a DiscoveryResponse) are made the first time any client is sent it and kept while the
 * resource is (its encoding is one shared object, `server.ts`), and a response is those bytes appended to its
 * own few fields. Protobuf merges a message's fields in whatever order they come, and a repeated field's
 * occurrences in order, so the result is the very message the generated serializer would make; it is made by
 * that serializer, piece by piece. Without this, every client's initial snapshot was serialized whole, once
 * per client: the control plane's largest cost at fan-out.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { EncodedResource } from '../../core/discovery/resources.ts';
import { type DiscoveryResponseMessage, discoveryService } from '../../core/grpc/protos.ts';

type Serialize = (value: unknown) => Buffer;

const definition = discoveryService();
const stream = definition.Stream!;
const serialize = stream.responseSerialize as Serialize;

/** The discovery service whose responses are written as bytes already serialized (`serializeResponse`). */
export const serializedDiscoveryService: ServiceDefinition = {
  ...definition,
  Stream: { ...stream, responseSerialize: (value: Buffer) => value },
};

const resourceBytes = new WeakMap<EncodedResource, Buffer>();

function serializedResource(resource: EncodedResource): Buffer {
  let bytes = resourceBytes.get(resource);
  if (bytes === undefined) {
    bytes = serialize({ resources: [resource] });
    resourceBytes.set(resource, bytes);
  }
  return bytes;
}

/** `message` serialized, each of its resources' bytes reused from any earlier response that carried it. */
export function serializeResponse(message: DiscoveryResponseMessage): Buffer {
  const parts = [serialize({ ...message, resources: [] })];
  for (const resource of message.resources) parts.push(serializedResource(resource));
  return Buffer.concat(parts);
}

/**
 * What both ends of the control plane's gRPC connection agree on: the largest message (a node's snapshot
 * must fit, with room to spare over what validation lets a snapshot grow to, so that a push never exceeds
 * the receiver's limit and freezes it in a reconnect loop), and how long a TLS handshake on 15012 may take.
 */
import type { ServerCredentials } from '@grpc/grpc-js';

/** The largest snapshot validation accepts, encoded (see `core/config/size-limits.ts`). */
export const MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024;

/** gRPC's message limit on both ends, send and receive: twice the largest valid snapshot. */
export const MAX_GRPC_MESSAGE_BYTES = 2 * MAX_SNAPSHOT_BYTES;

export const GRPC_MESSAGE_LIMITS = {
  'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
} as const;

/**
 * The HTTP/2 flow-control window a control-plane client grants (its stream and its connection): a whole
 * snapshot of a 10,000-workload mesh (~3.3 MB, in 1 MiB chunks) in one flight, instead of 64 KiB (HTTP/2's
 * default) and a round trip for every 64 KiB; what the client buffers stays bounded by it.
 */
export const CONTROL_FLOW_CONTROL_WINDOW_BYTES = 4 * 1024 * 1024;

/** A client that has not finished its TLS handshake on 15012 by then is dropped (Node's own default: 120 s). */
export const CONTROL_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Gives a gRPC server's TLS listener a handshake timeout. grpc-js builds its `http2` secure server from the
 * credentials' constructor options and exposes no setting of its own for this, so the timeout goes there.
 */
export function withHandshakeTimeout<T extends ServerCredentials>(credentials: T, timeoutMs: number): T {
  const constructorOptions = credentials._getConstructorOptions.bind(credentials);
  credentials._getConstructorOptions = () => {
    const options = constructorOptions();
    return options === null ? null : { ...options, handshakeTimeout: timeoutMs };
  };
  return credentials;
}

/**
 * How a data-plane client reaches the control plane: TLS that trusts only the mesh root (the control plane's
 * server certificate is issued by the mesh CA for `CONTROL_PLANE_SERVER_NAME`), and the node's bearer token
 * on every call.
 */
import {
  Channel,
  type ChannelCredentials,
  type ChannelOptions,
  Client,
  credentials,
  Metadata,
} from '@grpc/grpc-js';
import { controlPlaneTarget } from './control-target.ts';
import { CONTROL_FLOW_CONTROL_WINDOW_BYTES, GRPC_MESSAGE_LIMITS } from './limits.ts';

/** The DNS name in the control plane's server certificate, which clients verify whatever address they dial. */
export const CONTROL_PLANE_SERVER_NAME = 'ambit-control.istio-system.svc';
/** The control plane's own identity (a SAN of its server certificate). */
export const CONTROL_PLANE_SERVICE_ACCOUNT = 'ambit-control';
export const AUTHORIZATION_METADATA = 'authorization';

export interface ControlPlaneConnection {
  /**
   * `host:port` of the control plane's gRPC listener (default port 15012), or the replicas' as a
   * comma-separated list (see `control-target.ts`): the client fails over among them.
   */
  address: string;
  /** PEM root(s) to trust for the control plane's server certificate (`<state>/ca/root-cert.pem`). */
  rootCertPem: string;
  /** The node's bearer token; a function is read again on every call (a rotated token file is picked up). */
  token: string | (() => string);
}

export function controlPlaneCredentials(connection: ControlPlaneConnection): ChannelCredentials {
  const token = connection.token;
  const callCredentials = credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new Metadata();
    try {
      metadata.set(AUTHORIZATION_METADATA, `Bearer ${typeof token === 'function' ? token() : token}`);
      callback(null, metadata);
    } catch (error) {
      callback(error as Error);
    }
  });
  return credentials.combineChannelCredentials(
    credentials.createSsl(Buffer.from(connection.rootCertPem)),
    callCredentials,
  );
}

export function controlPlaneChannelOptions(): ChannelOptions {
  return {
    'grpc.ssl_target_name_override': CONTROL_PLANE_SERVER_NAME,
    'grpc.default_authority': CONTROL_PLANE_SERVER_NAME,
    // Notice a dead control plane (or a dead path to it) even while no update flows.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 5_000,
    'grpc-node.flow_control_window': CONTROL_FLOW_CONTROL_WINDOW_BYTES,
    ...GRPC_MESSAGE_LIMITS,
  };
}

/** A gRPC client of the control plane; `close` lets go of its share of the channel. */
export interface ControlPlaneClient {
  readonly client: Client;
  close(): void;
}

const channels = new WeakMap<ControlPlaneConnection, { channel: Channel; users: number }>();

/**
 * A client over the channel of `connection`: the clients opened with one connection object (a data plane's
 * discovery and certificate clients) share one channel, so they talk to one replica, the one the discovery
 * stream holds, and move together when it is lost: a certificate is asked of the replica that serves the
 * config, not of one that just came back. The channel closes when its last client does.
 */
export function openControlPlaneClient(connection: ControlPlaneConnection): ControlPlaneClient {
  let entry = channels.get(connection);
  const channelCredentials = controlPlaneCredentials(connection);
  if (!entry || entry.users === 0) {
    const target = controlPlaneTarget(connection.address);
    entry = { channel: new Channel(target, channelCredentials, controlPlaneChannelOptions()), users: 0 };
    channels.set(connection, entry);
  }
  const shared = entry;
  shared.users++;
  // The address and credentials are unused with a channel given; grpc-js asks for them all the same.
  const client = new Client(connection.address, channelCredentials, { channelOverride: shared.channel });
  let closed = false;
  return {
    client,
    close() {
      if (closed) return;
      closed = true;
      if (--shared.users === 0) shared.channel.close();
    },
  };
}

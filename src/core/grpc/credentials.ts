/**
 * How a data-plane client reaches the control plane: TLS that trusts only the mesh root (the control plane's
 * server certificate is issued by the mesh CA for `CONTROL_PLANE_SERVER_NAME`), and the node's bearer token
 * on every call.
 */
import { type ChannelCredentials, type ChannelOptions, credentials, Metadata } from '@grpc/grpc-js';
import { GRPC_MESSAGE_LIMITS } from './limits.ts';

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
    ...GRPC_MESSAGE_LIMITS,
  };
}

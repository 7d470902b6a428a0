/**
 * The wire protocol between the control plane and the data plane: the proto files in `proto/`, loaded once,
 * and the TypeScript shapes of their messages (proto-loader with camelCase field names).
 */
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));

export interface SubscriberMessage {
  kind: string;
  node: string;
  waypointName: string;
  waypointNamespace: string;
  instance: string;
}

export interface ResourceVersionMessage {
  type: string;
  name: string;
  version: string;
}

export interface DiscoveryRequestMessage {
  subscriber?: SubscriberMessage | null;
  initialResources?: ResourceVersionMessage[];
  responseNonce?: string;
  version?: string;
  error?: string;
}

export interface ResourceMessage {
  type: string;
  name: string;
  version: string;
  body: Buffer;
}

export interface DiscoveryResponseMessage {
  version: string;
  nonce: string;
  resources: ResourceMessage[];
  removed: ResourceVersionMessage[];
  /** More chunks of this response follow (see `core/discovery/chunks.ts`). */
  more?: boolean;
}

export interface CreateCertificateRequestMessage {
  csr: string;
  validityDuration: number;
}

export interface CreateCertificateResponseMessage {
  certChain: string[];
}

function load(file: string, service: string): ServiceDefinition {
  const definition = loadSync(file, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: Number,
    defaults: true,
    arrays: true,
  });
  return definition[service] as ServiceDefinition;
}

let discovery: ServiceDefinition | undefined;
let ca: ServiceDefinition | undefined;
let health: ServiceDefinition | undefined;

/** grpc.health.v1.Health: what `grpc` probes call (and what a stand-in app may serve). */
export function healthService(): ServiceDefinition {
  health ??= load('grpc/health/v1/health.proto', 'grpc.health.v1.Health');
  return health;
}

export interface HealthCheckResponseMessage {
  /** The ServingStatus number (enums load as numbers here): 1 is SERVING. */
  status: number;
}

export const HEALTH_SERVING = 1;

export function discoveryService(): ServiceDefinition {
  discovery ??= load('ambit/discovery/v1/discovery.proto', 'ambit.discovery.v1.Discovery');
  return discovery;
}

export function certificateService(): ServiceDefinition {
  ca ??= load('ambit/ca/v1/ca.proto', 'ambit.ca.v1.CertificateService');
  return ca;
}

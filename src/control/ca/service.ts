/**
 * The certificate service with node authorization: the caller authenticates as a node and gets a
 * certificate only for a service account that has a pod on that node (so a compromised node cannot mint
 * identities of workloads it does not run); a waypoint that authenticates with its own pod's token gets only
 * its own identity. Every refusal says why and is counted.
 */
import { status as grpcStatus, type Server, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import type {
  CreateCertificateRequestMessage,
  CreateCertificateResponseMessage,
} from '../../core/grpc/protos.ts';
import { certificateService } from '../../core/grpc/protos.ts';
import type { Identity } from '../../core/identity.ts';
import type { Logger } from '../../core/log.ts';
import { AuthenticationError, type Caller, type NodeAuthenticator } from '../auth/node-authenticator.ts';
import { nodeRunsPod } from '../auth/node-pods.ts';
import type { ControlMetrics } from '../metrics.ts';
import type { PodSource } from '../pods/pod-source.ts';
import { type CertificateAuthority, CsrError } from './authority.ts';

/** Whether `node` runs a pod with `identity`'s namespace and service account. */
export function nodeMayHold(pods: PodSource, node: string, identity: Identity): boolean {
  return nodeRunsPod(
    pods,
    node,
    (pod) => pod.namespace === identity.namespace && pod.serviceAccount === identity.serviceAccount,
  );
}

/** Why `caller` may not hold `identity` (what follows "may not obtain a certificate for X: "), or undefined. */
export function callerMayNotHold(pods: PodSource, caller: Caller, identity: Identity): string | undefined {
  const { waypoint } = caller;
  if (waypoint !== undefined) {
    return waypoint.namespace === identity.namespace && waypoint.serviceAccount === identity.serviceAccount
      ? undefined
      : `its token proves only service account ${waypoint.namespace}/${waypoint.serviceAccount}`;
  }
  return nodeMayHold(pods, caller.node, identity)
    ? undefined
    : `no pod with service account ${identity.namespace}/${identity.serviceAccount} runs on it`;
}

function callerName(caller: Caller): string {
  return caller.waypoint
    ? `waypoint ${caller.waypoint.namespace}/${caller.waypoint.name} (pod ${caller.waypoint.pod})`
    : `node ${JSON.stringify(caller.node)}`;
}

export class CertificateService {
  private readonly ca: CertificateAuthority;
  private readonly authenticator: NodeAuthenticator;
  private readonly pods: PodSource;
  private readonly metrics: ControlMetrics;
  private readonly log: Logger;

  constructor(options: {
    ca: CertificateAuthority;
    authenticator: NodeAuthenticator;
    pods: PodSource;
    metrics: ControlMetrics;
    log: Logger;
  }) {
    this.ca = options.ca;
    this.authenticator = options.authenticator;
    this.pods = options.pods;
    this.metrics = options.metrics;
    this.log = options.log;
  }

  register(server: Server): void {
    server.addService(certificateService(), {
      CreateCertificate: (
        call: ServerUnaryCall<CreateCertificateRequestMessage, CreateCertificateResponseMessage>,
        callback: sendUnaryData<CreateCertificateResponseMessage>,
      ) => {
        this.create(call).then(
          (response) => callback(null, response),
          (error: Error & { code?: grpcStatus }) =>
            callback({ code: error.code ?? grpcStatus.INTERNAL, details: error.message }),
        );
      },
    });
  }

  private async create(
    call: ServerUnaryCall<CreateCertificateRequestMessage, CreateCertificateResponseMessage>,
  ): Promise<CreateCertificateResponseMessage> {
    this.metrics.csrCount.inc();
    const refuse = (reason: string, code: grpcStatus, message: string) => {
      this.metrics.certificatesRefused.inc({ reason });
      this.log.warn('certificate refused', { peer: call.getPeer(), reason, error: message });
      return Object.assign(new Error(message), { code });
    };
    let caller: Caller;
    try {
      caller = await this.authenticator.authenticate(call.metadata);
    } catch (error) {
      if (error instanceof AuthenticationError)
        throw refuse('unauthenticated', grpcStatus.UNAUTHENTICATED, error.message);
      throw error;
    }
    let request: ReturnType<CertificateAuthority['inspect']>;
    try {
      request = this.ca.inspect(call.request.csr);
    } catch (error) {
      if (error instanceof CsrError) throw refuse('invalid_csr', grpcStatus.INVALID_ARGUMENT, error.message);
      throw error;
    }
    const refusal = callerMayNotHold(this.pods, caller, request.identity);
    if (refusal !== undefined) {
      throw refuse(
        'node_authorization',
        grpcStatus.PERMISSION_DENIED,
        `${callerName(caller)} may not obtain a certificate for ${request.spiffeId}: ${refusal}`,
      );
    }
    const issued = this.ca.issue(request, Number(call.request.validityDuration) || 0);
    this.metrics.certificatesIssued.inc();
    this.log.info('certificate issued', {
      node: caller.node,
      ...(caller.waypoint ? { waypointPod: `${caller.waypoint.namespace}/${caller.waypoint.pod}` } : {}),
      identity: request.spiffeId,
      notAfter: issued.notAfter.toISOString(),
    });
    return { certChain: [issued.certPem, ...issued.chain] };
  }
}

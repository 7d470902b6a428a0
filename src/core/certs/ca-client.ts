/** The data plane's client of the control plane's certificate service (`CreateCertificate`). */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { AmbitError, type ErrorCode } from '../errors.ts';
import {
  type ControlPlaneClient,
  type ControlPlaneConnection,
  openControlPlaneClient,
} from '../grpc/credentials.ts';
import {
  type CreateCertificateRequestMessage,
  type CreateCertificateResponseMessage,
  certificateService,
} from '../grpc/protos.ts';

export interface CertificateSigner {
  /** Signs `csrPem`; resolves to the certificate then its chain up to the root (PEM). */
  createCertificate(csrPem: string, ttlSeconds: number): Promise<string[]>;
}

/** A CA refusal or failure, with the gRPC status code (PERMISSION_DENIED for node authorization). */
export class CertificateRequestError extends AmbitError {
  readonly grpcStatus: number;
  constructor(error: ServiceError) {
    super(codeOfGrpcStatus(error.code), `certificate request failed: ${error.details || error.message}`);
    this.name = 'CertificateRequestError';
    this.grpcStatus = error.code;
  }
}

function codeOfGrpcStatus(grpcStatus: number): ErrorCode {
  switch (grpcStatus) {
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return 'UNAUTHENTICATED';
    case status.INVALID_ARGUMENT:
      return 'BAD_REQUEST';
    case status.DEADLINE_EXCEEDED:
      return 'TIMEOUT';
    default:
      return 'UNAVAILABLE';
  }
}

export class GrpcCertificateSigner implements CertificateSigner {
  private readonly control: ControlPlaneClient;
  private readonly timeoutMs: number;

  /** Shares its channel with the other clients of `connection` (see `openControlPlaneClient`). */
  constructor(connection: ControlPlaneConnection, options: { timeoutMs?: number } = {}) {
    this.control = openControlPlaneClient(connection);
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  createCertificate(csrPem: string, ttlSeconds: number): Promise<string[]> {
    const method = certificateService().CreateCertificate!;
    return new Promise((resolve, reject) => {
      this.control.client.makeUnaryRequest<CreateCertificateRequestMessage, CreateCertificateResponseMessage>(
        method.path,
        method.requestSerialize as (value: CreateCertificateRequestMessage) => Buffer,
        method.responseDeserialize as (bytes: Buffer) => CreateCertificateResponseMessage,
        { csr: csrPem, validityDuration: ttlSeconds },
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (error, response) => {
          if (error) reject(new CertificateRequestError(error));
          else resolve(response?.certChain ?? []);
        },
      );
    });
  }

  close(): void {
    this.control.close();
  }
}

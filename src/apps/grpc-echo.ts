/**
 * `ambit app grpc-echo`: a gRPC server (plaintext HTTP/2, what a mesh workload serves behind its ztunnel)
 * with one service, `ambit.echo.Echo`, whose unary methods `Hello` and `Goodbye` answer with the method, the
 * app's version and the pod's name, so that tests and demos can tell which backend a GRPCRoute chose.
 * Messages are JSON (no .proto to ship): `{"message": "..."}` in, `EchoReply` out.
 */
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { stopSignal } from '../core/stop-signal.ts';
import { podName } from './http-app.ts';

export interface EchoRequest {
  message: string;
}

export interface EchoReply {
  method: string;
  version: string;
  pod: string;
  message: string;
}

export const ECHO_SERVICE_NAME = 'ambit.echo.Echo';
const METHODS = ['Hello', 'Goodbye'] as const;

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString('utf8')) as unknown,
};

/** The service's definition, for a server and for clients (`makeGenericClientConstructor`). */
export const ECHO_SERVICE: ServiceDefinition = Object.fromEntries(
  METHODS.map((method) => [
    method,
    {
      path: `/${ECHO_SERVICE_NAME}/${method}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: json.serialize,
      requestDeserialize: json.deserialize,
      responseSerialize: json.serialize,
      responseDeserialize: json.deserialize,
    },
  ]),
);

export async function run(options: { port: number; version: string }): Promise<number> {
  const server = new Server();
  const reply =
    (method: string) => (call: ServerUnaryCall<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>) =>
      callback(null, {
        method,
        version: options.version,
        pod: podName(),
        message: String(call.request?.message ?? ''),
      });
  server.addService(ECHO_SERVICE, Object.fromEntries(METHODS.map((method) => [method, reply(method)])));
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`0.0.0.0:${options.port}`, ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  process.stdout.write(`gRPC ${ECHO_SERVICE_NAME} on ${options.port}, version ${options.version}\n`);
  await stopSignal();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  return 0;
}

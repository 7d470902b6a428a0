/** `ambit app <name> [options] [args...]`: runs one stand-in (see catalogue.ts), each loaded only when asked. */
import { parseArgs } from 'node:util';
import { UsageError } from '../core/errors.ts';
import { parsePort } from '../core/net/host-port.ts';

export const APP_USAGE = `Usage: ambit app <name> [--port N] [--version vN] [args...]

The local cluster's stand-ins for well-known container images (a container with such an image and no
command runs one):
  sleep                   does nothing until stopped (curlimages/curl, Istio's curl and sleep)
  httpbin                 an httpbin-compatible server (httpbin, kennethreitz/httpbin, mccutchen/go-httpbin)
  helloworld              GET /hello -> "Hello version: <v>, instance: <pod>" (examples-helloworld-v1|v2)
  tcp-echo [ports] [pfx]  answers each line with "<pfx> <line>" (tcp-echo-server; default 9000 hello)
  grpc-echo               gRPC ambit.echo.Echo/Hello and /Goodbye -> method, version, pod (JSON messages)
  bookinfo-productpage, bookinfo-details, bookinfo-reviews (--version v1|v2|v3), bookinfo-ratings
`;

const APPS: Record<string, (options: { port: number; version: string }, args: string[]) => Promise<number>> =
  {
    sleep: async () => (await import('./sleep.ts')).run(),
    httpbin: async (options) => (await import('./httpbin.ts')).run(options),
    helloworld: async (options) => (await import('./helloworld.ts')).run(options),
    'tcp-echo': async (_options, args) => (await import('./tcp-echo.ts')).run(args),
    'grpc-echo': async (options) => (await import('./grpc-echo.ts')).run(options),
    'bookinfo-productpage': async (options) => (await import('./bookinfo-productpage.ts')).run(options),
    'bookinfo-details': async (options) => (await import('./bookinfo-details.ts')).run(options),
    'bookinfo-reviews': async (options) => (await import('./bookinfo-reviews.ts')).run(options),
    'bookinfo-ratings': async (options) => (await import('./bookinfo-ratings.ts')).run(options),
  };

export async function runApp(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(APP_USAGE);
    return name === undefined ? 2 : 0;
  }
  const app = APPS[name];
  if (!app) throw new UsageError(`unknown app ${JSON.stringify(name)}\n\n${APP_USAGE}`);
  let parsed: ReturnType<
    typeof parseArgs<{
      options: { port: { type: 'string' }; version: { type: 'string' } };
      allowPositionals: true;
    }>
  >;
  try {
    parsed = parseArgs({
      args: rest,
      options: { port: { type: 'string' }, version: { type: 'string' } },
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${APP_USAGE}`);
  }
  const port = parsePort(parsed.values.port ?? '8080');
  if (port === undefined) throw new UsageError(`--port takes a port number (1-65535)`);
  return app({ port, version: parsed.values.version ?? 'v1' }, parsed.positionals);
}

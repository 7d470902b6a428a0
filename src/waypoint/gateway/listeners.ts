/**
 * An ingress gateway's downstream listeners: one server per port of the pushed `listeners`, opened, changed
 * and closed as pushes come. What each does before handing the connection to the request engine or the TCP
 * proxy (`serve`):
 * - no TLS, HTTP: the first bytes say HTTP/1.1 or h2c prior knowledge (gRPC);
 * - TLS terminated here: the certificate whose hostname matches the SNI (most specific first; without SNI,
 *   the first), ALPN `h2` or `http/1.1`, then HTTP or bytes;
 * - TLS passed through: the ClientHello's SNI is read (not answered) and the bytes go on untouched;
 * - no TLS, TCP: bytes.
 * Bounds: connections per port (`maxConnections`, beyond which new ones are dropped and counted), the time
 * a client has to finish its TLS handshake or send its ClientHello, and the ClientHello's size.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { errorMessage } from '../../core/errors.ts';
import { hostnameMatches } from '../../core/l7/hostnames.ts';
import type { ListenerCertificate, ListenerPlan } from '../../core/l7/types.ts';
import type { Logger } from '../../core/log.ts';
import { listen } from '../../core/server/listen.ts';
import type { WireProtocol } from '../inbound/protocol.ts';
import { sniffClientHello, sniffProtocol } from '../inbound/sniff.ts';
import { DETECTION_TIMEOUT_MS } from '../inbound/tunnel.ts';
import type { WaypointMetrics } from '../metrics.ts';
import { TLS_OPENING_TIMEOUT_MS } from './client-hello.ts';

export interface DownstreamArrival {
  port: number;
  client: { ip: string; port: number };
  /** The address the client dialled (the gateway's own). */
  local: string;
  wire: WireProtocol;
  sni?: string | undefined;
}

export interface IngressListenerOptions {
  /** Where the ports listen (every address of the pod: `0.0.0.0`). */
  host: string;
  serve(stream: Duplex, arrival: DownstreamArrival): void;
  metrics: WaypointMetrics;
  log: Logger;
  /** Open connections per port (Envoy's per-listener limit plays this part). */
  maxConnections?: number | undefined;
  /** How long a client has for its TLS handshake or, on a passthrough port, its ClientHello. */
  handshakeTimeoutMs?: number | undefined;
}

export const DEFAULT_MAX_CONNECTIONS = 10_000;

interface OpenPort {
  /** What the server was built for: a change of wire or TLS mode reopens the port. */
  shape: string;
  plan: ListenerPlan;
  server: net.Server;
}

/** The certificate for a server name: the first (most specific) whose hostname matches, or a catch-all. */
export function certificateFor(
  certificates: readonly ListenerCertificate[],
  serverName: string | undefined,
): ListenerCertificate | undefined {
  if (serverName === undefined) return certificates.find((c) => c.hostname === undefined) ?? certificates[0];
  return certificates.find((c) => c.hostname === undefined || hostnameMatches(c.hostname, serverName));
}

export class IngressListeners {
  readonly #options: IngressListenerOptions;
  readonly #ports = new Map<number, OpenPort>();
  #applying: Promise<void> = Promise.resolve();
  #pending = 0;
  #failure: string | undefined;

  constructor(options: IngressListenerOptions) {
    this.#options = options;
  }

  /** Why not every pushed port listens yet (readiness), or undefined once they all do. */
  get problem(): string | undefined {
    if (this.#failure !== undefined) return this.#failure;
    return this.#pending === 0 ? undefined : 'opening listeners';
  }

  /** Follows a push: opens new ports, reopens changed ones, closes those gone. Pushes apply in order. */
  apply(plans: readonly ListenerPlan[]): Promise<void> {
    this.#pending++;
    const run = this.#applying.then(() => this.#apply(plans));
    run.then(
      () => {
        this.#failure = undefined;
      },
      (error: unknown) => {
        this.#failure = `a listener cannot open: ${errorMessage(error)}`;
      },
    );
    this.#applying = run.finally(() => this.#pending--).catch(() => {});
    return run;
  }

  async #apply(plans: readonly ListenerPlan[]): Promise<void> {
    const wanted = new Map(plans.map((plan) => [plan.port, plan]));
    for (const [port, open] of this.#ports) {
      const plan = wanted.get(port);
      if (plan === undefined || shapeOf(plan) !== open.shape) {
        this.#ports.delete(port);
        await closeServer(open.server);
      }
    }
    for (const plan of plans) {
      const open = this.#ports.get(plan.port);
      if (open !== undefined) {
        open.plan = plan;
        continue;
      }
      const entry = { shape: shapeOf(plan), plan } as OpenPort;
      entry.server = this.#server(entry);
      entry.server.maxConnections = this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
      entry.server.on('drop', () => this.#options.metrics.refused.inc({ reason: 'too-many-connections' }));
      try {
        await listen(entry.server, { host: this.#options.host, port: plan.port });
        this.#ports.set(plan.port, entry);
        this.#options.log.info('listener open', { listener: plan.name, port: plan.port, tls: plan.tls.mode });
      } catch (error) {
        this.#options.log.error('listener cannot open', { port: plan.port, error: errorMessage(error) });
        throw error;
      }
    }
  }

  #server(entry: OpenPort): net.Server {
    const { tls: mode } = entry.plan;
    if (mode.mode === 'terminate') return this.#terminating(entry);
    return net.createServer({ noDelay: true }, (socket) => {
      socket.on('error', () => {
        // A client that resets is routine; the engine or the proxy sees the close.
      });
      if (mode.mode === 'passthrough') void this.#passthrough(entry, socket);
      else if (entry.plan.wire === 'tcp') this.#serve(entry, socket, socket, 'tcp');
      else
        void sniffProtocol(socket, DETECTION_TIMEOUT_MS).then((wire) =>
          // A plain HTTP port speaks HTTP: bytes that are neither go to the HTTP/1.1 parser, which answers 400.
          this.#serve(entry, socket, socket, wire === 'http2' ? 'http2' : 'http1'),
        );
    });
  }

  #terminating(entry: OpenPort): net.Server {
    const certificates = () => (entry.plan.tls.mode === 'terminate' ? entry.plan.tls.certificates : []);
    // By certificate object: a push brings new objects, and the old contexts go with the old plan.
    const contexts = new WeakMap<ListenerCertificate, tls.SecureContext>();
    const contextFor = (certificate: ListenerCertificate) => {
      let context = contexts.get(certificate);
      if (context === undefined) {
        context = tls.createSecureContext({ cert: certificate.certificatePem, key: certificate.keyPem });
        contexts.set(certificate, context);
      }
      return context;
    };
    const fallback = certificateFor(certificates(), undefined);
    const server = tls.createServer({
      ...(fallback ? { cert: fallback.certificatePem, key: fallback.keyPem } : {}),
      minVersion: 'TLSv1.2',
      ALPNProtocols: entry.plan.wire === 'http' ? ['h2', 'http/1.1'] : undefined,
      handshakeTimeout: this.#options.handshakeTimeoutMs ?? TLS_OPENING_TIMEOUT_MS,
      SNICallback: (serverName, callback) => {
        const certificate = certificateFor(certificates(), serverName);
        if (certificate === undefined) return callback(new Error(`no certificate for ${serverName}`));
        try {
          callback(null, contextFor(certificate));
        } catch (error) {
          callback(error as Error);
        }
      },
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      socket.on('error', () => {
        // As on plain ports.
      });
      const wire: WireProtocol =
        entry.plan.wire === 'tcp' ? 'tcp' : socket.alpnProtocol === 'h2' ? 'http2' : 'http1';
      const sni = typeof socket.servername === 'string' ? socket.servername : undefined;
      this.#serve(entry, socket, socket, wire, sni);
    });
    server.on('tlsClientError', () => this.#options.metrics.refused.inc({ reason: 'tls-handshake' }));
    return server;
  }

  async #passthrough(entry: OpenPort, socket: net.Socket): Promise<void> {
    const hello = await sniffClientHello(socket, this.#options.handshakeTimeoutMs ?? TLS_OPENING_TIMEOUT_MS);
    if (hello.kind !== 'clientHello') {
      this.#options.metrics.refused.inc({
        reason: hello.kind === 'timeout' ? 'handshake-timeout' : 'not-tls',
      });
      socket.destroy();
      return;
    }
    this.#serve(entry, socket, socket, 'tcp', hello.serverName);
  }

  #serve(entry: OpenPort, stream: Duplex, socket: net.Socket, wire: WireProtocol, sni?: string): void {
    this.#options.serve(stream, {
      port: entry.plan.port,
      client: { ip: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      local: socket.localAddress ?? '',
      wire,
      sni,
    });
  }

  async close(): Promise<void> {
    const open = [...this.#ports.values()];
    this.#ports.clear();
    await Promise.all(open.map((entry) => closeServer(entry.server)));
  }
}

function shapeOf(plan: ListenerPlan): string {
  return `${plan.wire}/${plan.tls.mode}`;
}

/** Stops accepting and ends the port's open connections. */
function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

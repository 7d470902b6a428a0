/**
 * The echo app's HTTP side: every request gets a JSON report of who answered (pod, namespace, node,
 * version) and what arrived (method, path, headers, source and destination addresses, body size), shaped
 * by the query's directives (see directives.ts). Any Upgrade is accepted (101 with the x-echo-* headers, and
 * for a WebSocket handshake its accept key), after which the connection echoes every byte, as the TCP port
 * does: enough to see an Upgrade pass through a proxy both ways.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { directivesFor, type EchoDirectives, parseDirectives } from './directives.ts';

export interface EchoIdentity {
  pod: string;
  namespace: string;
  node: string;
  version: string;
  ip: string;
}

export interface EchoReport extends EchoIdentity {
  request: {
    method: string;
    path: string;
    protocol: string;
    headers: Record<string, string | string[] | undefined>;
    /** `ip:port` of the peer, as the echo app's socket sees it. */
    source: string;
    /** `ip:port` the connection was accepted on. */
    destination: string;
    bodyBytes: number;
  };
}

/** One 64 KiB chunk, written repeatedly for `size=` bodies: no allocation per response. */
const FILLER = Buffer.alloc(64 * 1024, 'ambit echo\n');

export function createEchoHttpServer(identity: EchoIdentity): Server {
  const flaky = { count: 0 };
  const server = createServer((request, response) => {
    let bodyBytes = 0;
    request.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    request.on('end', () => answer(identity, request, response, bodyBytes, flaky));
    request.on('error', () => response.destroy());
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  server.on('upgrade', (request, socket, head) => upgrade(identity, request, socket, head));
  return server;
}

/** RFC 6455's GUID, appended to the client's key to make the accept key. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function upgrade(identity: EchoIdentity, request: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => socket.destroy());
  const key = request.headers['sec-websocket-key'];
  socket.write(
    [
      'HTTP/1.1 101 Switching Protocols',
      `upgrade: ${request.headers.upgrade ?? ''}`,
      'connection: Upgrade',
      // A WebSocket client checks that the server saw its key (RFC 6455 section 4.2.2).
      ...(typeof key === 'string'
        ? [
            `sec-websocket-accept: ${createHash('sha1')
              .update(key + WEBSOCKET_GUID)
              .digest('base64')}`,
          ]
        : []),
      `x-echo-pod: ${identity.pod}`,
      `x-echo-version: ${identity.version}`,
      '',
      '',
    ].join('\r\n'),
  );
  if (head.length > 0) socket.write(head);
  socket.pipe(socket);
}

function answer(
  identity: EchoIdentity,
  request: IncomingMessage,
  response: ServerResponse,
  bodyBytes: number,
  flaky: { count: number },
): void {
  const url = new URL(request.url ?? '/', 'http://echo');
  response.setHeader('x-echo-pod', identity.pod);
  response.setHeader('x-echo-namespace', identity.namespace);
  response.setHeader('x-echo-version', identity.version);
  const parsed = parseDirectives(url.searchParams);
  if ('error' in parsed) {
    sendJson(response, 400, { error: parsed.error });
    return;
  }
  if (parsed.failEvery !== undefined) flaky.count++;
  const directives = directivesFor(parsed, identity.pod, flaky.count);
  const respond = () => {
    if (directives.close) {
      closeConnection(request, directives.close);
      return;
    }
    if (directives.size !== undefined) {
      sendBytes(request, response, directives);
      return;
    }
    const socket = request.socket;
    const report: EchoReport = {
      ...identity,
      request: {
        method: request.method ?? '',
        path: url.pathname + url.search,
        protocol: `HTTP/${request.httpVersion}`,
        headers: request.headers,
        source: `${socket.remoteAddress}:${socket.remotePort}`,
        destination: `${socket.localAddress}:${socket.localPort}`,
        bodyBytes,
      },
    };
    sendJson(response, directives.status, report, request.method === 'HEAD');
  };
  if (directives.delayMs <= 0) {
    respond();
    return;
  }
  const timer = setTimeout(respond, directives.delayMs);
  // A client that gives up while we wait needs no answer.
  response.on('close', () => clearTimeout(timer));
}

function sendJson(response: ServerResponse, status: number, body: unknown, headOnly = false): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(headOnly ? undefined : text);
}

function sendBytes(request: IncomingMessage, response: ServerResponse, directives: EchoDirectives): void {
  let remaining = directives.size!;
  response.writeHead(directives.status, {
    'content-type': 'application/octet-stream',
    'content-length': remaining,
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  const pump = () => {
    while (remaining > 0) {
      const chunk = remaining >= FILLER.length ? FILLER : FILLER.subarray(0, remaining);
      remaining -= chunk.length;
      if (!response.write(chunk)) {
        response.once('drain', pump);
        return;
      }
    }
    response.end();
  };
  pump();
}

function closeConnection(request: IncomingMessage, how: 'fin' | 'reset'): void {
  const socket = request.socket;
  if (how === 'reset') socket.resetAndDestroy();
  else socket.destroy();
}

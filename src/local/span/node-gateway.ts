/**
 * The node gateway (`ambit local node-gateway`): on the control plane's host of a spanning cluster, in the
 * first node's namespace on its underlay address, HTTPS with its own pinned certificate (gateway-credential.ts). It is how
 * the supervisors of the other hosts report their pods: a caller authenticates with its node's bearer token,
 * each call is checked by `authorizeNodeCall` against the plan, and what passes is made on the control
 * plane's own API socket. Bounded: connections, header and body bytes, time per request; refusals counted.
 */
import { timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { ControlApiClient } from '../../core/control-api/client.ts';
import { controlPaths } from '../../core/control-api/paths.ts';
import { AmbitError, errorMessage } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { splitHostPort } from '../../core/net/host-port.ts';
import { readNodeToken } from '../../core/node-credentials.ts';
import { readJsonBody } from '../../core/server/json-body.ts';
import { listen } from '../../core/server/listen.ts';
import { controlPlaneStateDir } from '../mesh/control-plane.ts';
import { readClusterState, statePaths } from '../state.ts';
import { authorizeNodeCall, type NodeCall, type RefusalReason } from './gateway-authorization.ts';
import { gatewayCredentialFiles } from './gateway-credential.ts';
import { NODE_GATEWAY_IDENTITY } from './span.ts';

const LIMITS = {
  connections: 64,
  headerBytes: 16 * 1024,
  bodyBytes: 1024 * 1024,
  requestMs: 15_000,
};

const log = createLogger('local.node-gateway');

export interface NodeGateway {
  server: Server;
  refused: Map<RefusalReason | 'unauthenticated' | 'too-large', number>;
  close(): Promise<void>;
}

export async function startNodeGateway(stateDir: string, listenAddress: string): Promise<NodeGateway> {
  const paths = statePaths(stateDir);
  const cluster = readClusterState(paths);
  if (!cluster) throw new AmbitError('NOT_FOUND', `no cluster recorded in ${stateDir}`);
  const control = controlPaths(controlPlaneStateDir(cluster));
  const credential = gatewayCredentialFiles(cluster);
  const address = splitHostPort(listenAddress);
  if (!address) throw new AmbitError('USAGE', `--listen: ${JSON.stringify(listenAddress)} is no host:port`);
  const api = new ControlApiClient(control.socket, { timeoutMs: LIMITS.requestMs });
  const refused: NodeGateway['refused'] = new Map();
  const count = (reason: RefusalReason | 'unauthenticated' | 'too-large') =>
    refused.set(reason, (refused.get(reason) ?? 0) + 1);

  const server = createServer(
    {
      key: readFileSync(credential.keyFile),
      cert: readFileSync(credential.certFile),
      minVersion: 'TLSv1.3',
      maxHeaderSize: LIMITS.headerBytes,
      requestTimeout: LIMITS.requestMs,
      headersTimeout: LIMITS.requestMs,
    },
    (req, res) => {
      handle(req, res).catch((error: unknown) => answer(res, 502, { error: wireError(error) }));
    },
  );
  server.maxConnections = LIMITS.connections;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const caller = authenticate(control.nodeTokens, req.headers.authorization);
    if (caller === undefined) {
      count('unauthenticated');
      return answer(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'no valid node token' } });
    }
    let body: unknown;
    try {
      body = await readJsonBody(req, LIMITS.bodyBytes);
    } catch (error) {
      if (!(error instanceof AmbitError)) throw error;
      if (error.code === 'TOO_LARGE') {
        count('too-large');
        return answer(res, 413, { error: wireError(error) });
      }
      // Not JSON: the authorization below refuses it as a bad body.
      body = null;
    }
    const plan = readClusterState(paths) ?? cluster!;
    const decision = authorizeNodeCall(caller, req.method ?? '', req.url ?? '', body, (namespace, name) =>
      plan.pods.find((pod) => pod.namespace === namespace && pod.name === name),
    );
    if (!decision.allowed) {
      count(decision.reason);
      return answer(res, decision.status, {
        error: {
          code: 'PERMISSION_DENIED',
          message: `node ${caller} may not make this call (${decision.reason})`,
        },
      });
    }
    answer(res, 200, await forward(api, decision.call));
  }

  await listen(server, address);
  log.info('node gateway listening', { address: listenAddress, identity: NODE_GATEWAY_IDENTITY });
  return {
    server,
    refused,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function forward(api: ControlApiClient, call: NodeCall): Promise<unknown> {
  switch (call.kind) {
    case 'report':
      return api.reportPod(call.pod);
    case 'remove':
      return api.removePod(call.namespace, call.name);
    case 'sync':
      return api.syncNodePods(call.node, call.pods);
  }
}

/** The node whose token the header carries (tokens are compared in constant time), or undefined. */
function authenticate(tokenDir: string, header: string | undefined): string | undefined {
  const presented = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
  if (presented === undefined) return undefined;
  const wanted = Buffer.from(presented);
  for (const file of readdirSync(tokenDir)) {
    if (!file.endsWith('.token')) continue;
    const token = Buffer.from(readNodeToken(join(tokenDir, file)));
    if (token.length === wanted.length && timingSafeEqual(token, wanted))
      return file.slice(0, -'.token'.length);
  }
  return undefined;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': payload.length });
  res.end(payload);
}

function wireError(error: unknown): { code: string; message: string } {
  return { code: error instanceof AmbitError ? error.code : 'UNAVAILABLE', message: errorMessage(error) };
}

/**
 * The local API on a unix socket (mode 0600: only root, or whoever runs the control plane, may change
 * config): JSON over HTTP, routes in `core/control-api/types.ts`. One bad request gets an error response,
 * never takes the process down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ConfigError } from '../../core/config/issues.ts';
import { MAX_ROLLOUT_WAIT_MS } from '../../core/control-api/limits.ts';
import type {
  ApiErrorBody,
  ApplyResult,
  ConfigFile,
  ControlStatus,
  DeleteResult,
  PodInfo,
  RolloutReport,
  StoredResource,
} from '../../core/control-api/types.ts';
import { AmbitError, asAmbitError, wireError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { readJsonBody } from '../../core/server/json-body.ts';
import { claimUnixSocket, listenUnixSocket, type UnixSocketOptions } from '../../core/server/unix-socket.ts';

const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface ApiHandlers {
  status(): ControlStatus;
  rollout(revision: number, timeoutMs: number): Promise<RolloutReport>;
  awaitPushed(timeoutMs: number): Promise<RolloutReport>;
  apply(files: ConfigFile[]): ApplyResult;
  delete(files: ConfigFile[]): DeleteResult;
  get(kind: string, name: string | undefined, namespace: string | undefined): StoredResource[];
  reportPod(pod: unknown): { pods: number };
  removePod(namespace: string, name: string): { removed: boolean };
  syncNodePods(node: string, pods: unknown): { pods: number };
  listPods(): { pods: PodInfo[] };
}

function configFiles(body: unknown): ConfigFile[] {
  const files = (body as { files?: unknown } | undefined)?.files;
  if (
    !Array.isArray(files) ||
    !files.every((file) => typeof file?.name === 'string' && typeof file?.content === 'string')
  ) {
    throw new AmbitError('BAD_REQUEST', 'expected {"files": [{"name": ..., "content": ...}]}');
  }
  return files as ConfigFile[];
}

function integerParam(url: URL, name: string, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  const value = Number(raw);
  if (raw === null || raw === '' || !Number.isInteger(value) || value < min || value > max)
    throw new AmbitError(
      'BAD_REQUEST',
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  return value;
}

async function route(handlers: ApiHandlers, req: IncomingMessage): Promise<unknown> {
  const url = new URL(req.url ?? '/', 'http://control');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const body = await readJsonBody(req, MAX_BODY_BYTES);
  const method = req.method ?? 'GET';
  const key = `${method} /${parts.slice(0, 2).join('/')}`;
  switch (key) {
    case 'GET /v1/status':
      return handlers.status();
    case 'GET /v1/rollout':
      return handlers.rollout(
        integerParam(url, 'revision', 0, Number.MAX_SAFE_INTEGER),
        integerParam(url, 'timeoutMs', 0, MAX_ROLLOUT_WAIT_MS),
      );
    case 'GET /v1/pushed':
      return handlers.awaitPushed(integerParam(url, 'timeoutMs', 0, MAX_ROLLOUT_WAIT_MS));
    case 'POST /v1/apply':
      return handlers.apply(configFiles(body));
    case 'POST /v1/delete':
      return handlers.delete(configFiles(body));
    case 'GET /v1/resources': {
      const kind = url.searchParams.get('kind');
      if (!kind) throw new AmbitError('BAD_REQUEST', 'kind is required');
      return {
        resources: handlers.get(
          kind,
          url.searchParams.get('name') ?? undefined,
          url.searchParams.get('namespace') ?? undefined,
        ),
      };
    }
    case 'GET /v1/pods':
      return handlers.listPods();
    case 'PUT /v1/pods':
      return handlers.reportPod(body);
    case 'DELETE /v1/pods':
      if (parts.length !== 4) throw new AmbitError('BAD_REQUEST', 'use DELETE /v1/pods/<namespace>/<name>');
      return handlers.removePod(parts[2]!, parts[3]!);
    case 'PUT /v1/nodes':
      if (parts.length !== 4 || parts[3] !== 'pods')
        throw new AmbitError('BAD_REQUEST', 'use PUT /v1/nodes/<node>/pods');
      return handlers.syncNodePods(parts[2]!, (body as { pods?: unknown } | undefined)?.pods);
    default:
      throw new AmbitError('NOT_FOUND', `no route ${method} ${url.pathname}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) })
    .end(payload);
}

/** The response to a failed request: the status the catalogue gives the error's code, and the error. */
function errorBody(error: unknown): { status: number; body: ApiErrorBody } {
  const status = asAmbitError(error).spec.http;
  const issues = error instanceof ConfigError ? { issues: [...error.issues] } : {};
  return { status, body: { error: { ...wireError(error), ...issues } } };
}

/** What a second control plane on the same state directory is told. */
const SOCKET_TAKEN: UnixSocketOptions = {
  inUse: (socket) =>
    new AmbitError(
      'CONFLICT',
      `a control plane already serves ${socket}: stop it, or use another --state-dir`,
    ),
};

/**
 * Fails if another process answers on `socket` (another control plane on the same state dir); removes a stale
 * socket file left by a crash. Called before anything else is started.
 */
export function claimSocket(socket: string): Promise<void> {
  return claimUnixSocket(socket, SOCKET_TAKEN);
}

/** Serves the API on `socket` (claimed again, then 0600). */
export async function serveApi(socket: string, handlers: ApiHandlers, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    route(handlers, req).then(
      (body) => send(res, 200, body),
      (error: unknown) => {
        const { status, body } = errorBody(error);
        if (status >= 500)
          log.error('API request failed', { method: req.method, url: req.url, error: body.error.message });
        send(res, status, body);
      },
    );
  });
  await listenUnixSocket(server, socket, SOCKET_TAKEN);
  return server;
}

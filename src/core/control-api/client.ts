/**
 * Client of the control plane's unix-socket API (see `types.ts`). Used by the CLI and by runtimes that report
 * pods (the local cluster). Errors come back as AmbitError with the server's code, or ConfigError with the
 * issues when config was refused.
 *
 * Given the sockets of several replicas (which share config and pods), a call goes to the one that last
 * answered, and to the next in turn when a socket cannot be connected to (nothing was sent: safe to try
 * another, even for a write). A call that reached a replica is never sent again elsewhere.
 */
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { ConfigError } from '../config/issues.ts';
import { AmbitError, errorFromWire, SystemError } from '../errors.ts';
import type {
  ApiErrorBody,
  ApplyResult,
  ConfigFile,
  ControlStatus,
  DeleteResult,
  PodInfo,
  RolloutReport,
  StoredResource,
} from './types.ts';

/** Where CLI commands look for the socket when `--socket` is not given. */
export const CONTROL_SOCKET_ENV = 'AMBIT_CONTROL_SOCKET';

export interface ResourceQuery {
  kind: string;
  name?: string | undefined;
  namespace?: string | undefined;
}

/** Connecting failed, so nothing was sent: another replica may be tried. */
export class ControlPlaneUnreachable extends AmbitError {}

/**
 * The API across hosts: a spanning local cluster's node gateway (src/local/span), HTTPS with a certificate
 * pinned by `caPem` for `serverIdentity`, the caller authenticated by its node token. It takes only pod calls.
 */
export interface RemoteApiTarget {
  host: string;
  port: number;
  caPem: string;
  /** The SPIFFE URI the server's certificate must carry. */
  serverIdentity: string;
  token: string;
  /** Opens the TCP connection (e.g. from inside a network namespace); a plain connect by default. */
  connect?: (() => Socket) | undefined;
}

export class ControlApiClient {
  /** The replicas' sockets, or the `host:port` of a remote target: what calls go to and messages name. */
  readonly socketPaths: readonly string[];
  private readonly timeoutMs: number;
  /** The replica that answered last, tried first. */
  private preferred = 0;
  private readonly remote: RemoteApiTarget | undefined;

  constructor(target: string | readonly string[] | RemoteApiTarget, options: { timeoutMs?: number } = {}) {
    this.remote =
      typeof target === 'string' || Array.isArray(target) ? undefined : (target as RemoteApiTarget);
    this.socketPaths = this.remote
      ? [`${this.remote.host}:${this.remote.port}`]
      : typeof target === 'string'
        ? [target]
        : [...(target as readonly string[])];
    if (this.socketPaths.length === 0) throw new AmbitError('USAGE', 'no control plane socket given');
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** A request on the unix socket `socketPath`, or to the remote target over HTTPS. */
  private send(
    socketPath: string,
    method: string,
    path: string,
    timeoutMs: number,
    headers: Record<string, string | number>,
    onResponse: (res: IncomingMessage) => void,
  ): ClientRequest {
    const remote = this.remote;
    if (!remote) return request({ socketPath, method, path, timeout: timeoutMs, headers }, onResponse);
    const tls: ConnectionOptions = {
      ca: remote.caPem,
      minVersion: 'TLSv1.3',
      // Dialled by IP, identified by its SPIFFE URI SAN (the mesh's certificates carry no host name).
      servername: 'ambit-node-gateway',
      checkServerIdentity: (_host, cert) =>
        (cert.subjectaltname ?? '').split(', ').includes(`URI:${remote.serverIdentity}`)
          ? undefined
          : new Error(`the server is not ${remote.serverIdentity}`),
    };
    return httpsRequest(
      {
        ...tls,
        host: remote.host,
        port: remote.port,
        method,
        path,
        timeout: timeoutMs,
        headers: { ...headers, authorization: `Bearer ${remote.token}` },
        // A request's own createConnection is used only without an agent (`agent: false` makes one).
        ...(remote.connect
          ? { createConnection: () => tlsConnect({ ...tls, socket: remote.connect!() }) }
          : { agent: false }),
      },
      onResponse,
    );
  }

  /** The socket calls go to first (the replica that answered last). */
  get socketPath(): string {
    return this.socketPaths[this.preferred]!;
  }

  status(): Promise<ControlStatus> {
    return this.call('GET', '/v1/status');
  }

  apply(files: ConfigFile[]): Promise<ApplyResult> {
    return this.call('POST', '/v1/apply', { files });
  }

  /** Waits (at most `timeoutMs`) for the data plane's ACKs or NACKs of config `revision`. */
  rollout(revision: number, timeoutMs: number): Promise<RolloutReport> {
    const params = new URLSearchParams({ revision: String(revision), timeoutMs: String(timeoutMs) });
    // The answer comes at the wait's end at the latest: the request may take that long, plus a margin.
    return this.call('GET', `/v1/rollout?${params}`, undefined, timeoutMs + this.timeoutMs);
  }

  /** Waits (at most `timeoutMs`) until every data-plane client has the mesh as the control plane has it now. */
  awaitPushed(timeoutMs: number): Promise<RolloutReport> {
    const params = new URLSearchParams({ timeoutMs: String(timeoutMs) });
    return this.call('GET', `/v1/pushed?${params}`, undefined, timeoutMs + this.timeoutMs);
  }

  delete(files: ConfigFile[]): Promise<DeleteResult> {
    return this.call('POST', '/v1/delete', { files });
  }

  async get(query: ResourceQuery): Promise<StoredResource[]> {
    const params = new URLSearchParams({ kind: query.kind });
    if (query.name !== undefined) params.set('name', query.name);
    if (query.namespace !== undefined) params.set('namespace', query.namespace);
    const body = await this.call<{ resources: StoredResource[] }>('GET', `/v1/resources?${params}`);
    return body.resources;
  }

  /** Reports a running pod (or its new state); idempotent. */
  reportPod(pod: PodInfo): Promise<{ pods: number }> {
    return this.call('PUT', '/v1/pods', pod);
  }

  removePod(namespace: string, name: string): Promise<{ removed: boolean }> {
    return this.call('DELETE', `/v1/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  /** Replaces every pod known on `node` by `pods` (a runtime's full resync after either side restarted). */
  syncNodePods(node: string, pods: PodInfo[]): Promise<{ pods: number }> {
    return this.call('PUT', `/v1/nodes/${encodeURIComponent(node)}/pods`, { pods });
  }

  listPods(): Promise<{ pods: PodInfo[] }> {
    return this.call('GET', '/v1/pods');
  }

  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const count = this.socketPaths.length;
    let unreachable: ControlPlaneUnreachable | undefined;
    for (let tried = 0; tried < count; tried++) {
      const index = (this.preferred + tried) % count;
      try {
        const result = await this.callAt<T>(this.socketPaths[index]!, method, path, payload, timeoutMs);
        this.preferred = index;
        return result;
      } catch (error) {
        if (!(error instanceof ControlPlaneUnreachable)) throw error;
        unreachable = error;
      }
    }
    if (count === 1) throw unreachable!;
    throw new AmbitError(
      'UNAVAILABLE',
      `cannot reach any control-plane replica (${this.socketPaths.join(', ')}): ${unreachable!.message}`,
    );
  }

  private callAt<T>(
    socketPath: string,
    method: string,
    path: string,
    payload: Buffer | undefined,
    timeoutMs: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = this.send(
        socketPath,
        method,
        path,
        timeoutMs,
        payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              reject(new AmbitError('UNAVAILABLE', `bad response from ${socketPath} (${res.statusCode})`));
              return;
            }
            if ((res.statusCode ?? 500) >= 400) reject(toError(parsed as ApiErrorBody));
            else resolve(parsed as T);
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(new AmbitError('TIMEOUT', `no answer from the control plane at ${socketPath}`)),
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof AmbitError) reject(error);
        else if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
          reject(
            new ControlPlaneUnreachable(
              'UNAVAILABLE',
              `cannot reach the control plane at ${socketPath}: ${error.code} (is \`ambit control\` running? set --socket or ${CONTROL_SOCKET_ENV})`,
            ),
          );
        } else reject(new SystemError(`control plane API call failed: ${error.message}`, error.code));
      });
      req.end(payload);
    });
  }
}

function toError(body: ApiErrorBody): Error {
  if (!body.error)
    return new AmbitError('UNAVAILABLE', 'the control plane answered an error without saying which');
  const error = errorFromWire(body.error);
  return error.code === 'CONFIG_INVALID' && body.error.issues ? new ConfigError(body.error.issues) : error;
}

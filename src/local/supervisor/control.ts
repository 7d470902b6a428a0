/**
 * The running supervisor's control channel: a unix socket, `<state>/supervisor.sock` (mode 0600, so root
 * only), that takes one JSON request per connection, on one line, and answers with one JSON line:
 *
 *   -> {"type":"label","target":{"kind":"namespace","name":"apps"},
 *       "edit":{"set":{"istio.io/dataplane-mode":"ambient"},"remove":[]},"overwrite":false}
 *   <- {"ok":true,"result":{...LabelOutcome}}
 *   <- {"ok":false,"error":{"code":"<public code of the error>","message":"..."}}
 *
 * The supervisor is the only writer of the cluster record while it runs, so changes go through it: it
 * applies them one at a time and tells the extensions (which enroll or unenroll pods) before it answers.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import { Field, LABEL_KEY } from '../../core/config/field.ts';
import { IssueCollector } from '../../core/config/issues.ts';
import { AmbitError, errorFromWire, type WireError, wireError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { listenUnixSocket } from '../../core/server/unix-socket.ts';
import { readLines } from '../../redirect/enroll/lines.ts';
import type { LabelChange, LabelEdit, LabelTarget } from '../labels.ts';
import type { StatePaths } from '../state.ts';
import type { PodMesh } from './status.ts';

export interface LabelRequest {
  type: 'label';
  target: LabelTarget;
  edit: LabelEdit;
  overwrite: boolean;
}

export type ControlRequest = LabelRequest;

/** What a label request did: kubectl's line, and where each pod concerned now stands in the mesh. */
export interface LabelOutcome {
  object: string;
  change: LabelChange;
  missing: string[];
  /** Why an extension could not act on a namespace's new labels (the labels stay changed). */
  error?: string | undefined;
  pods: Array<{ uid: string; mesh?: PodMesh | undefined; error?: string | undefined }>;
}

type ControlResponse = { ok: true; result: unknown } | { ok: false; error: WireError };

const MAX_REQUEST_BYTES = 64 * 1024;

/** Parses and checks a request; a malformed one is refused with the field at fault. */
export function parseControlRequest(line: string): ControlRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new AmbitError('BAD_REQUEST', 'the request is not JSON');
  }
  const issues = new IssueCollector({ file: 'control request', document: 1 });
  const root = new Field(value, '', issues);
  let request: ControlRequest | undefined;
  if (root.object(['type', 'target', 'edit', 'overwrite'], { required: true })) {
    root.child('type').oneOf(['label'], { required: true });
    const target = root.child('target');
    const kind = target.object(['kind', 'name', 'namespace'], { required: true })
      ? target.child('kind').oneOf(['pod', 'namespace'] as const, { required: true })
      : undefined;
    const name = target.child('name').string({ required: true, nonEmpty: true });
    const namespace = target.child('namespace').string({ nonEmpty: true });
    const edit = root.child('edit');
    edit.object(['set', 'remove'], { required: true });
    const set = edit.child('set').labels({ required: true });
    const remove = edit
      .child('remove')
      .list((item) => item.string({ required: true, pattern: LABEL_KEY, patternHint: 'not a label key' }), {
        required: true,
      });
    const overwrite = root.child('overwrite').boolean({ required: true });
    if (kind && name && set && remove && overwrite !== undefined) {
      request = { type: 'label', target: { kind, name, namespace }, edit: { set, remove }, overwrite };
    }
  }
  const errors = issues.issues.filter((issue) => issue.severity === 'error');
  if (errors.length > 0 || request === undefined) {
    throw new AmbitError(
      'BAD_REQUEST',
      `bad request: ${errors.map((issue) => `${issue.path || '(root)'}: ${issue.message}`).join('; ')}`,
    );
  }
  return request;
}

export class ControlServer {
  readonly #server: net.Server;
  readonly #path: string;

  private constructor(server: net.Server, path: string) {
    this.#server = server;
    this.#path = path;
  }

  /** Serves `handle` on the socket; requests are handled one at a time, in the order they arrive. */
  static async listen(
    path: string,
    handle: (request: ControlRequest) => Promise<unknown>,
    log: Logger,
  ): Promise<ControlServer> {
    let queue: Promise<unknown> = Promise.resolve();
    const server = net.createServer((socket) => {
      socket.on('error', (error) => log.warn('control connection error', { error }));
      const answer = (response: ControlResponse) => {
        if (!socket.destroyed) socket.end(`${JSON.stringify(response)}\n`);
      };
      let received = false;
      readLines(
        socket,
        MAX_REQUEST_BYTES,
        (line) => {
          if (received) return;
          received = true;
          let request: ControlRequest;
          try {
            request = parseControlRequest(line);
          } catch (error) {
            return answer({ ok: false, error: wireError(error) });
          }
          log.info('control request', { request });
          const work = queue.then(() => handle(request));
          queue = work.catch(() => {});
          work.then(
            (result) => answer({ ok: true, result }),
            (error: unknown) => answer({ ok: false, error: wireError(error) }),
          );
        },
        () =>
          answer({
            ok: false,
            error: wireError(new AmbitError('TOO_LARGE', 'request too long')),
          }),
      );
    });
    await listenUnixSocket(server, path, {
      inUse: (taken) => new AmbitError('CONFLICT', `another supervisor already serves ${taken}`),
    });
    return new ControlServer(server, path);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#path, { force: true });
  }
}

/** Sends one request to the cluster's supervisor and returns its result; its refusal becomes an AmbitError. */
export function controlRequest<T>(
  paths: StatePaths,
  cluster: string,
  request: ControlRequest,
  timeoutMs = 60_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(paths.control);
    let answered = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new AmbitError(
          'TIMEOUT',
          `the supervisor of cluster ${cluster} did not answer within ${timeoutMs} ms (see \`ambit local logs supervisor\`)`,
        ),
      );
    }, timeoutMs);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new AmbitError(
          'UNAVAILABLE',
          `cannot reach the supervisor of cluster ${cluster} at ${paths.control} (${error.code ?? error.message}): is the cluster up? (see \`ambit local status\`)`,
        ),
      );
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!answered) {
        reject(new AmbitError('UNAVAILABLE', `the supervisor of cluster ${cluster} hung up`));
      }
    });
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    readLines(
      socket,
      MAX_REQUEST_BYTES * 16,
      (line) => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        socket.destroy();
        let response: ControlResponse;
        try {
          response = JSON.parse(line) as ControlResponse;
        } catch {
          return reject(new AmbitError('UNAVAILABLE', 'the supervisor answered with something not JSON'));
        }
        if (response.ok) resolve(response.result as T);
        else reject(errorFromWire(response.error));
      },
      () => socket.destroy(),
    );
  });
}

/**
 * The agent side of the enrollment protocol: a unix-socket server that speaks `protocol.ts` and hands each
 * request to an `EnrollmentHandler` (the capture agent). Requests run concurrently; the handler serialises
 * per pod. A malformed message ends that connection only; the agent and other connections go on.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import { AmbitError, asAmbitError, wireError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { listenUnixSocket } from '../../core/server/unix-socket.ts';
import { readLines } from './lines.ts';
import {
  type AgentMessage,
  type ClientMessage,
  type EnrolledPod,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  parseClientMessage,
} from './protocol.ts';

/** What the server asks of the agent. */
export interface EnrollmentHandler {
  /** Captures the pod (listeners, then rules); resolves when it is safe to start the pod. Idempotent. */
  add(pod: EnrolledPod): Promise<void>;
  /** Stops capturing the pod; resolves for a pod it does not know (cleaning `netns` if given). */
  remove(uid: string, netns: string | undefined): Promise<void>;
  /** Removes every pod whose uid is not in `uids` (the end of a snapshot). */
  retainOnly(uids: ReadonlySet<string>): Promise<void>;
}

export class EnrollmentServer {
  readonly socketPath: string;
  readonly #server: net.Server;
  readonly #connections = new Set<net.Socket>();

  private constructor(socketPath: string, server: net.Server) {
    this.socketPath = socketPath;
    this.#server = server;
  }

  /**
   * Serves on `socketPath` (created 0600, its directory created if needed). Refuses if another agent answers
   * there; removes a stale socket file left by a crashed one.
   */
  static async listen(socketPath: string, handler: EnrollmentHandler, log: Logger = createLogger('enroll')) {
    const server = net.createServer();
    const self = new EnrollmentServer(socketPath, server);
    server.on('connection', (socket) => self.#serve(socket, handler, log));
    await listenUnixSocket(server, socketPath, {
      directoryMode: 0o755,
      inUse: (path) => new AmbitError('CONFLICT', `another agent is already serving ${path}`),
    });
    return self;
  }

  #serve(socket: net.Socket, handler: EnrollmentHandler, log: Logger): void {
    this.#connections.add(socket);
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', (error) => log.warn('enrollment connection error', { error }));
    const send = (message: AgentMessage) => {
      if (!socket.destroyed) socket.write(encodeMessage(message));
    };
    let refused = false;
    const refuse = (error: AmbitError) => {
      // Nothing after a refused message is acted on, even lines that arrived in the same chunk.
      refused = true;
      log.warn('closing enrollment connection', { code: error.code, message: error.message });
      send({ type: 'error', error: wireError(error) });
      socket.end();
    };
    let greeted = false;
    let snapshot = new Set<string>();
    const inFlight = new Set<Promise<void>>();
    const track = (id: number, work: Promise<void>) => {
      const task = work.then(
        () => send({ type: 'ack', id }),
        (error: unknown) => send({ type: 'nack', id, error: wireError(error) }),
      );
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
    };

    const onMessage = (message: ClientMessage) => {
      if (message.type === 'hello') {
        if (message.version !== PROTOCOL_VERSION) {
          return refuse(
            new AmbitError(
              'BAD_REQUEST',
              `protocol version ${message.version} is not supported (this agent speaks ${PROTOCOL_VERSION})`,
            ),
          );
        }
        greeted = true;
        return send({ type: 'hello', version: PROTOCOL_VERSION });
      }
      if (!greeted) return refuse(new AmbitError('BAD_REQUEST', `expected hello first, got ${message.type}`));
      switch (message.type) {
        case 'add':
          snapshot.add(message.pod.uid);
          return track(message.id, handler.add(message.pod));
        case 'remove':
          snapshot.delete(message.uid);
          return track(message.id, handler.remove(message.uid, message.netns));
        case 'snapshot-done': {
          // The snapshot is every add before this message: wait for those, then drop the other pods.
          const uids = snapshot;
          const earlier = [...inFlight];
          snapshot = new Set();
          return track(
            message.id,
            Promise.allSettled(earlier).then(() => handler.retainOnly(uids)),
          );
        }
      }
    };

    readLines(
      socket,
      MAX_MESSAGE_BYTES,
      (line) => {
        if (refused) return;
        let message: ClientMessage;
        try {
          message = parseClientMessage(line);
        } catch (error) {
          const { code, message } = asAmbitError(error);
          return refuse(new AmbitError(code, `bad message: ${message}`));
        }
        onMessage(message);
      },
      () => refuse(new AmbitError('TOO_LARGE', `message longer than ${MAX_MESSAGE_BYTES} bytes`)),
    );
  }

  /** Stops accepting and drops open connections (pods stay captured; a restarted agent resyncs). */
  async close(): Promise<void> {
    for (const socket of this.#connections) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }
}

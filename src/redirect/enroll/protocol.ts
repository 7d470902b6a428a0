/**
 * The enrollment protocol between a cluster runtime (the local cluster, later the Kubernetes CNI plugin)
 * and the node agent, over a unix socket: JSON, one message per line, versioned.
 *
 *   runtime -> agent                                     agent -> runtime
 *   {"type":"hello","version":1}                         {"type":"hello","version":1}
 *   {"type":"add","id":1,"pod":{...EnrolledPod}}         {"type":"ack","id":1}
 *   {"type":"remove","id":2,"uid":"...","netns":"..."}   {"type":"nack","id":2,"error":{"code","message"}}
 *   {"type":"snapshot-done","id":3}
 *
 * `add` is answered once the pod's listeners are open and its rules installed: only then may the runtime
 * start the pod's process, so no packet leaves before capture. `remove` undoes it (`netns` is optional and
 * lets an agent that restarted, and so knows nothing of the pod, still clean its rules). `snapshot-done`
 * closes a snapshot: the adds received on this connection since its hello (or the previous snapshot-done)
 * are every enrolled pod of the node, and the agent removes any other pod it has.
 */
import { isIP } from 'node:net';
import type { EnrolledPod } from '../../core/capture-handler.ts';
import { Field } from '../../core/config/field.ts';
import { IssueCollector } from '../../core/config/issues.ts';
import { AmbitError, errorFromWire, type WireError } from '../../core/errors.ts';

export type { EnrolledPod } from '../../core/capture-handler.ts';

export const PROTOCOL_VERSION = 1;
/** Longest line either side accepts; a pod description is a few hundred bytes. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export type ClientMessage =
  | { type: 'hello'; version: number }
  | { type: 'add'; id: number; pod: EnrolledPod }
  | { type: 'remove'; id: number; uid: string; netns?: string | undefined }
  | { type: 'snapshot-done'; id: number };

export type AgentMessage =
  | { type: 'hello'; version: number }
  | { type: 'ack'; id: number }
  | { type: 'nack'; id: number; error: WireError }
  /** The connection is refused as a whole (bad version, unreadable message); the agent closes it. */
  | { type: 'error'; error: WireError };

/** A message that does not follow the protocol; `message` names the field. */
export class ProtocolError extends AmbitError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
    this.name = 'ProtocolError';
  }
}

export function encodeMessage(message: ClientMessage | AgentMessage): string {
  return `${JSON.stringify(message)}\n`;
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new ProtocolError(`not JSON: ${JSON.stringify(line.slice(0, 80))}`);
  }
}

/** Runs a parser written with `Field` and turns the issues it reports into one ProtocolError. */
function withFields<T>(value: unknown, parse: (root: Field) => T | undefined): T {
  const issues = new IssueCollector({ file: 'enrollment message', document: 1 });
  const result = parse(new Field(value, '', issues));
  const errors = issues.issues.filter((issue) => issue.severity === 'error');
  if (errors.length > 0 || result === undefined) {
    throw new ProtocolError(
      errors.map((issue) => `${issue.path ? `${issue.path}: ` : ''}${issue.message}`).join('; ') ||
        'invalid message',
    );
  }
  return result;
}

const ID = { required: true, min: 1, max: Number.MAX_SAFE_INTEGER } as const;
const NAME = { required: true, nonEmpty: true } as const;

function parsePod(field: Field): EnrolledPod | undefined {
  if (!field.object(['uid', 'name', 'namespace', 'serviceAccount', 'ips', 'netns'], { required: true }))
    return undefined;
  const uid = field.child('uid').string(NAME);
  const name = field.child('name').string(NAME);
  const namespace = field.child('namespace').string(NAME);
  const serviceAccount = field.child('serviceAccount').string(NAME);
  const ips = field.child('ips').list(
    (item) => {
      const ip = item.string({ required: true });
      return ip === undefined || isIP(ip) !== 0
        ? ip
        : item.error(`${JSON.stringify(ip)} is not an IP address`);
    },
    { required: true },
  );
  const netns = field
    .child('netns')
    .string({ required: true, pattern: /^\//, patternHint: 'must be an absolute path' });
  if ([uid, name, namespace, serviceAccount, ips, netns].includes(undefined)) return undefined;
  return {
    uid: uid!,
    name: name!,
    namespace: namespace!,
    serviceAccount: serviceAccount!,
    ips: ips!,
    netns: netns!,
  };
}

export function parseClientMessage(line: string): ClientMessage {
  return withFields(parseJson(line), (root): ClientMessage | undefined => {
    const type =
      root.object('any', { required: true }) &&
      root.child('type').oneOf(['hello', 'add', 'remove', 'snapshot-done'], { required: true });
    switch (type) {
      case 'hello': {
        root.object(['type', 'version']);
        const version = root.child('version').integer({ required: true, min: 1 });
        return version === undefined ? undefined : { type, version };
      }
      case 'add': {
        root.object(['type', 'id', 'pod']);
        const id = root.child('id').integer(ID);
        const pod = parsePod(root.child('pod'));
        return id === undefined || pod === undefined ? undefined : { type, id, pod };
      }
      case 'remove': {
        root.object(['type', 'id', 'uid', 'netns']);
        const id = root.child('id').integer(ID);
        const uid = root.child('uid').string(NAME);
        const netns = root.child('netns').string({ pattern: /^\//, patternHint: 'must be an absolute path' });
        return id === undefined || uid === undefined ? undefined : { type, id, uid, netns };
      }
      case 'snapshot-done': {
        root.object(['type', 'id']);
        const id = root.child('id').integer(ID);
        return id === undefined ? undefined : { type, id };
      }
      default:
        return undefined;
    }
  });
}

export function parseAgentMessage(line: string): AgentMessage {
  return withFields(parseJson(line), (root): AgentMessage | undefined => {
    const type =
      root.object('any', { required: true }) &&
      root.child('type').oneOf(['hello', 'ack', 'nack', 'error'], { required: true });
    const errorBody = (field: Field): WireError | undefined => {
      if (!field.object(['code', 'message'], { required: true })) return undefined;
      const code = field.child('code').string(NAME);
      const message = field.child('message').string({ required: true });
      return code === undefined || message === undefined ? undefined : { code, message };
    };
    switch (type) {
      case 'hello': {
        const version = root.child('version').integer({ required: true, min: 1 });
        return version === undefined ? undefined : { type, version };
      }
      case 'ack': {
        const id = root.child('id').integer(ID);
        return id === undefined ? undefined : { type, id };
      }
      case 'nack': {
        const id = root.child('id').integer(ID);
        const error = errorBody(root.child('error'));
        return id === undefined || error === undefined ? undefined : { type, id, error };
      }
      case 'error': {
        const error = errorBody(root.child('error'));
        return error === undefined ? undefined : { type, error };
      }
      default:
        return undefined;
    }
  });
}

/** The error a NACK carries, for the runtime: the agent's code and message, unchanged. */
export class EnrollmentError extends AmbitError {
  constructor(body: WireError) {
    const { code, message } = errorFromWire(body);
    super(code, message);
    this.name = 'EnrollmentError';
  }
}

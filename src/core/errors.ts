/**
 * Ambit's error catalogue and error tree. Every error a user can see carries a code from `ERRORS`, so that
 * scripts and tests match on the code, never on the wording. A code fixes what the error means in every
 * place that shows it: the CLI's exit status, the control API's HTTP status, and a hint that tells the user
 * what to do next. Outside this process a code is spelled `AMBIT_ERR_<CODE>` (`publicCode`), in CLI output
 * and in the JSON of every API and socket protocol.
 */

export interface ErrorSpec {
  /** The exit status of a CLI command that fails with this error. */
  readonly exit: number;
  /** The HTTP status of an API request that fails with this error. */
  readonly http: number;
  /** What the user does next, printed under the message. */
  readonly hint: string;
}

/** Every code, once. Codes name what went wrong, not where: one code serves every part that fails alike. */
export const ERRORS = {
  USAGE: {
    exit: 2,
    http: 400,
    hint: 'run the command with --help for its arguments, or `ambit --help` for the commands',
  },
  CONFIG_INVALID: {
    exit: 1,
    http: 422,
    hint: 'fix what each line names (file, document, field), then try again; `ambit analyze -f <file>` checks files offline',
  },
  BAD_REQUEST: {
    exit: 1,
    http: 400,
    hint: 'a peer sent something this side cannot accept (the message says what): check that both run the same Ambit version',
  },
  TOO_LARGE: {
    exit: 1,
    http: 413,
    hint: 'send less at once: split the config into smaller files or requests',
  },
  NOT_FOUND: {
    exit: 1,
    http: 404,
    hint: 'check the name: `ambit local status` lists clusters, pods and namespaces, `ambit get <kind>` the stored config',
  },
  CONFLICT: {
    exit: 1,
    http: 409,
    hint: 'something already holds what this needs (the message says what): stop or remove it, or pick another name',
  },
  UNAUTHENTICATED: {
    exit: 1,
    http: 401,
    hint: 'give a node credential the control plane issued (`ambit control credential <node>`, then --token-file)',
  },
  DENIED: {
    exit: 1,
    http: 403,
    hint: 'an authorization policy refused it: check the policies that select the destination (`ambit get authorizationpolicies -A`)',
  },
  PRIVILEGE: {
    exit: 1,
    http: 403,
    hint: 'run the command as root',
  },
  PREREQUISITE: {
    exit: 1,
    http: 500,
    hint: 'this host lacks something the command needs (the message says what): provide it, then run the command again',
  },
  UNAVAILABLE: {
    exit: 1,
    http: 503,
    hint: 'a component did not answer: check that it runs (`ambit local status`, `ambit control status`) and read its log (`ambit local logs`)',
  },
  TIMEOUT: {
    exit: 1,
    http: 504,
    hint: 'a component did not answer in time: check that it runs and read its log (`ambit local logs`); then try again',
  },
  CANCELLED: {
    exit: 1,
    http: 503,
    hint: 'the component was shutting down or stopped managing the request: try again once it is back',
  },
  INTERRUPTED: {
    exit: 1,
    http: 503,
    hint: 'the command stopped at a signal and undid its partial work: run it again',
  },
  STATE_CORRUPT: {
    exit: 1,
    http: 500,
    hint: 'stored state cannot be used (the message names the file): move it away, or `ambit local down` the cluster, to start afresh',
  },
  SNAPSHOT_INVALID: {
    exit: 1,
    http: 422,
    hint: 'the control plane sent config this proxy refuses; it keeps serving the previous one: check that both run the same Ambit version',
  },
  CA_FILES: {
    exit: 1,
    http: 500,
    hint: 'check the CA files named by --ca-cert, --ca-key or --ca-root: readable PEM, a key that matches its certificate',
  },
  CERT_INVALID: {
    exit: 1,
    http: 502,
    hint: 'the CA answered with a certificate this node cannot use: check the control plane (`ambit control status`) and its log',
  },
  ENROLL_NETNS: {
    exit: 1,
    http: 500,
    hint: "the pod's network namespace is gone or unreadable: check that the pod still runs, then re-enroll it",
  },
  ENROLL_CAPTURE: {
    exit: 1,
    http: 500,
    hint: "the pod's capture rules could not be changed: read the node agent's log (`ambit local logs <node>`)",
  },
  EXTENSION: {
    exit: 1,
    http: 500,
    hint: 'check the cluster extension the message names: the file exists and exports `extension: ClusterExtension`',
  },
  SYSTEM: {
    exit: 1,
    http: 500,
    hint: 'a system call or command failed (the message says which, with its errno): fix the cause on this host, then try again',
  },
  INTERNAL: {
    exit: 1,
    http: 500,
    hint: 'this is a bug in Ambit: see the component log (`ambit local logs`), and set AMBIT_DEBUG=1 for the stack trace',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

const PUBLIC_PREFIX = 'AMBIT_ERR_';

/** The code as the world sees it: `AMBIT_ERR_NOT_FOUND`. */
export function publicCode(code: ErrorCode): string {
  return `${PUBLIC_PREFIX}${code}`;
}

/** The code of a public spelling read from a peer (`AMBIT_ERR_NOT_FOUND` -> NOT_FOUND); undefined if unknown. */
export function parsePublicCode(text: unknown): ErrorCode | undefined {
  if (typeof text !== 'string' || !text.startsWith(PUBLIC_PREFIX)) return undefined;
  const code = text.slice(PUBLIC_PREFIX.length);
  return Object.hasOwn(ERRORS, code) ? (code as ErrorCode) : undefined;
}

export class AmbitError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AmbitError';
    this.code = code;
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }
}

/**
 * The user asked for something malformed (bad flag, bad file, bad name). Exit status 2 in the CLI, which
 * prints `help` (the command's usage) when the error carries it.
 */
export class UsageError extends AmbitError {
  readonly help: string | undefined;

  constructor(message: string, help?: string) {
    super('USAGE', message);
    this.name = 'UsageError';
    this.help = help;
  }
}

/** A system call or external command failed; `errno` is the symbolic name (ENOENT, EPERM, ...) when known. */
export class SystemError extends AmbitError {
  readonly errno: string | undefined;

  constructor(message: string, errno?: string, options?: ErrorOptions) {
    super('SYSTEM', errno ? `${message}: ${errno}` : message, options);
    this.name = 'SystemError';
    this.errno = errno;
  }
}

/** Any thrown value as an AmbitError: itself, or INTERNAL (a bug) keeping the original as the cause. */
export function asAmbitError(error: unknown): AmbitError {
  return error instanceof AmbitError
    ? error
    : new AmbitError('INTERNAL', errorMessage(error), { cause: error });
}

/** The `{code, message}` an API or socket protocol sends for an error, with the public code. */
export interface WireError {
  code: string;
  message: string;
}

export function wireError(error: unknown): WireError {
  const ambit = asAmbitError(error);
  return { code: publicCode(ambit.code), message: ambit.message };
}

/** The error a peer reported in a `WireError` (a code this version does not know becomes INTERNAL). */
export function errorFromWire(wire: WireError): AmbitError {
  const code = parsePublicCode(wire.code);
  return new AmbitError(code ?? 'INTERNAL', code ? wire.message : `${wire.code}: ${wire.message}`);
}

/**
 * One line that says what went wrong, for messages and logs: the message, with a system error's code
 * (ECONNRESET...) in front when the message does not already say it.
 */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  if (error instanceof AmbitError || typeof code !== 'string' || error.message.includes(code))
    return error.message;
  return error.message === '' ? code : `${code}: ${error.message}`;
}

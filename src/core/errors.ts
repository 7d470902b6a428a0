/**
 * Ambit's error tree. Every error a user can see carries a stable code (`AMBIT_ERR_*`) so that scripts and
 * tests match on the code, never on the wording, and a message that says what to do next.
 */
export class AmbitError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AmbitError';
    this.code = code;
  }
}

/** The user asked for something malformed (bad flag, bad file, bad name). Exit status 2 in the CLI. */
export class UsageError extends AmbitError {
  constructor(message: string) {
    super('AMBIT_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

/** A system call or external command failed; `errno` is the symbolic name (ENOENT, EPERM, ...) when known. */
export class SystemError extends AmbitError {
  readonly errno: string | undefined;

  constructor(message: string, errno?: string, options?: ErrorOptions) {
    super('AMBIT_ERR_SYSTEM', errno ? `${message}: ${errno}` : message, options);
    this.name = 'SystemError';
    this.errno = errno;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Logging for tests: one logger that drops everything, and one switch that quiets the process's loggers. */
import {
  configureLogging,
  type LogFields,
  type Logger,
  type LogLevel,
  parseLevel,
} from '../../src/core/log.ts';

/** A logger for code under test whose logs are beside the point (retry warnings, access logs). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  enabled: () => false,
  child: () => silentLogger,
};

/** Log only errors from the code under test (access logs would drown the output); AMBIT_TEST_LOG_LEVEL overrides. */
export function quietLogs(): void {
  configureLogging({ level: parseLevel(process.env.AMBIT_TEST_LOG_LEVEL) ?? 'error', format: 'text' });
}

export interface LoggedLine {
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

/** A logger that keeps what it is told, for tests of what a component logs (access logs...). */
export function recordingLogger(): { log: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const record =
    (level: LogLevel) =>
    (msg: string, fields: LogFields = {}) => {
      lines.push({ level, msg, fields });
    };
  const log: Logger = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    enabled: () => true,
    child: () => log,
  };
  return { log, lines };
}

/**
 * Structured logging. Every Ambit process writes one JSON object per line (machine-readable, what the local
 * cluster stores under logs/), or a compact human line when AMBIT_LOG_FORMAT=text or stderr is a terminal.
 * Hot paths must not log per packet: log per connection or per event, and guard debug logs with `enabled()`.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  child(scope: string, fields?: LogFields): Logger;
}

interface LogSettings {
  level: LogLevel;
  format: 'json' | 'text';
  write: (line: string) => void;
}

const settings: LogSettings = {
  level: parseLevel(process.env.AMBIT_LOG_LEVEL) ?? 'info',
  format:
    process.env.AMBIT_LOG_FORMAT === 'json' || process.env.AMBIT_LOG_FORMAT === 'text'
      ? process.env.AMBIT_LOG_FORMAT
      : process.stderr.isTTY
        ? 'text'
        : 'json',
  write: (line) => process.stderr.write(line),
};

export function parseLevel(value: string | undefined): LogLevel | undefined {
  return value !== undefined && value in LEVELS ? (value as LogLevel) : undefined;
}

/** Changes the level of every logger in the process (the admin `/logging` endpoint uses this). */
export function setLogLevel(level: LogLevel): void {
  settings.level = level;
}

export function getLogLevel(): LogLevel {
  return settings.level;
}

export function configureLogging(options: Partial<LogSettings>): void {
  Object.assign(settings, options);
}

function render(level: LogLevel, scope: string, msg: string, fields: LogFields): string {
  if (settings.format === 'json') {
    return `${JSON.stringify({ time: new Date().toISOString(), level, scope, msg, ...fields }, jsonReplacer)}\n`;
  }
  const extras = Object.entries(fields)
    .map(
      ([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value, jsonReplacer)}`,
    )
    .join(' ');
  return `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${scope}: ${msg}${extras ? ` ${extras}` : ''}\n`;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, code: (value as { code?: unknown }).code };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function createLogger(scope: string, base: LogFields = {}): Logger {
  const log = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LEVELS[level] < LEVELS[settings.level]) return;
    settings.write(render(level, scope, msg, fields ? { ...base, ...fields } : base));
  };
  return {
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    enabled: (level) => LEVELS[level] >= LEVELS[settings.level],
    child: (childScope, fields) => createLogger(`${scope}.${childScope}`, { ...base, ...fields }),
  };
}

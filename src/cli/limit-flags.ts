/**
 * Flags for the limits of a long-running component (`ambit ztunnel`, `ambit control`): one table per
 * component says flag, setting, unit and meaning, and the same table gives the parser, the options for
 * `parseArgs` and the help lines with each default, so a limit cannot be settable without being documented.
 */
import { formatDuration } from '../core/config/duration.ts';
import { UsageError } from '../core/errors.ts';
import { durationFlag } from './flags.ts';

export interface LimitFlag<Key extends string> {
  flag: string;
  key: Key;
  /** `count` and `bytes`: whole numbers from 1; `duration`: `500ms`, `10s`, `5m`. */
  unit: 'count' | 'bytes' | 'duration';
  help: string;
  /** The largest value that is safe (e.g. what the other end of a connection accepts). */
  max?: number;
}

/** The `parseArgs` options of the flags. */
export function limitOptions(flags: readonly LimitFlag<string>[]): Record<string, { type: 'string' }> {
  return Object.fromEntries(flags.map(({ flag }) => [flag, { type: 'string' as const }]));
}

function positiveInteger(value: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1 || parsed > max)
    throw new UsageError(`--${flag}: expected a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  return parsed;
}

/** The settings the flags given set (absent flags are left out, so the component's defaults apply). */
export function parseLimitFlags<Key extends string>(
  values: Readonly<Record<string, unknown>>,
  flags: readonly LimitFlag<Key>[],
): Partial<Record<Key, number>> {
  const settings: Partial<Record<Key, number>> = {};
  for (const { flag, key, unit, max } of flags) {
    const value = values[flag];
    if (typeof value !== 'string') continue;
    settings[key] =
      unit === 'duration' ? durationFlag(value, flag, 0, { min: 1, max }) : positiveInteger(value, flag, max);
  }
  return settings;
}

function formatLimit(unit: LimitFlag<string>['unit'], value: number): string {
  if (unit === 'duration') return formatDuration(value);
  if (unit === 'bytes' && value % (1024 * 1024) === 0) return `${value} = ${value / (1024 * 1024)} MiB`;
  return String(value);
}

/** Help lines: each flag with its default, then what it bounds on the next line. */
export function limitFlagsHelp<Key extends string>(
  flags: readonly LimitFlag<Key>[],
  defaults: Readonly<Record<Key, number>>,
): string {
  return flags
    .map(({ flag, key, unit, help }) => {
      const value = unit === 'duration' ? 'DUR' : 'N';
      return `  --${flag} ${value} (default ${formatLimit(unit, defaults[key])})\n        ${help}`;
    })
    .join('\n');
}

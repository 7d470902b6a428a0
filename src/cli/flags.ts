/** Checks of flag values shared by the long-running commands (`ambit ztunnel`, `ambit waypoint run`). */
import { formatDuration, parseDuration } from '../core/config/duration.ts';
import { UsageError } from '../core/errors.ts';
import { controlPlaneTarget } from '../core/grpc/control-target.ts';
import { type HostPort, splitHostPort } from '../core/net/host-port.ts';

/** The flag's value; a missing or empty one is a usage error that shows the command's usage. */
export function requiredFlag(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag}\n\n${usage}`);
  return value;
}

/** A TCP port (1-65535), or `fallback` when the flag is absent. */
export function portFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65535)
    throw new UsageError(`--${flag}: not a port: ${JSON.stringify(value)}`);
  return parsed;
}

export function hostPortFlag(value: string, flag: string): HostPort {
  const address = splitHostPort(value);
  if (!address) throw new UsageError(`--${flag}: expected HOST:PORT, got ${JSON.stringify(value)}`);
  return address;
}

/** `--control`: one control plane's `HOST:PORT`, or its replicas' separated by commas (checked now). */
export function controlFlag(value: string): string {
  if (!value.includes(',')) hostPortFlag(value, 'control');
  else controlPlaneTarget(value);
  return value;
}

/** A duration (`300ms`, `30s`, `2m`) in ms within [min, max], or `fallback` when the flag is absent. */
export function durationFlag(
  value: string | undefined,
  flag: string,
  fallback: number,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined || ms < min || ms > max)
    throw new UsageError(
      `--${flag}: expected a duration from ${formatDuration(min)} to ${formatDuration(max)} (e.g. 30s, 2m), got ${JSON.stringify(value)}`,
    );
  return Math.round(ms);
}

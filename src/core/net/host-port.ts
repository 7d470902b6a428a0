/** `host:port` text as HBONE authorities, `forwarded` headers and addresses in flags carry it. */

/** `10.0.0.1:80`, `[fd00::1]:80`. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A TCP/UDP port number a peer can connect to: 1-65535. */
export function isPort(value: number): boolean {
  return Number.isInteger(value) && value > 0 && value < 65536;
}

/**
 * A port number written in decimal digits (no sign, exponent, hex or spaces, which `Number()` would take):
 * 1-65535, or 0-65535 with `allowPortZero`, for listen ports where 0 picks a free port. Undefined otherwise.
 */
export function parsePort(text: string, options?: { allowPortZero?: boolean }): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port < (options?.allowPortZero ? 0 : 1) || port > 65535 ? undefined : port;
}

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `host:port` / `[ip6]:port`; undefined when malformed or the port is not 1-65535 (0-65535 with
 * `allowPortZero`, for listen addresses where 0 picks a free port).
 */
export function splitHostPort(text: string, options?: { allowPortZero?: boolean }): HostPort | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = parsePort(match[3]!, options);
  return port === undefined ? undefined : { host: (match[1] ?? match[2])!, port };
}

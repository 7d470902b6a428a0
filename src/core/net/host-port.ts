/** `host:port` text as HBONE authorities, `forwarded` headers and addresses in flags carry it. */

/** `10.0.0.1:80`, `[fd00::1]:80`. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A TCP/UDP port number a peer can connect to: 1-65535. */
export function isPort(value: number): boolean {
  return Number.isInteger(value) && value > 0 && value < 65536;
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
  const port = Number(match[3]);
  if (port < (options?.allowPortZero ? 0 : 1) || port > 65535) return undefined;
  return { host: (match[1] ?? match[2])!, port };
}

/**
 * The key a request hashes on under `consistentHash` (header, cookie, source IP or query parameter), as
 * pure functions. A missing cookie is generated (Envoy: when the policy has a TTL) and set on the response,
 * so the client's next request carries it and sticks to the same endpoint; any other missing key gives no
 * hash and the balancer falls back to a random pick, as Envoy does.
 */
import type { HashKey } from '../../core/l7/types.ts';

export interface HashInputs {
  header(name: string): string | undefined;
  queryParam(name: string): string | undefined;
  /** The original client's address. */
  sourceIp: string;
}

export interface HashKeyValue {
  /** What to hash; undefined when the request has no such key. */
  value: string | undefined;
  /** A `set-cookie` value for the response, when the cookie was generated here. */
  setCookie?: string | undefined;
}

export function hashKeyValue(key: HashKey, request: HashInputs, generate: () => string): HashKeyValue {
  switch (key.kind) {
    case 'header':
      return { value: request.header(key.name) };
    case 'queryParameter':
      return { value: request.queryParam(key.name) };
    case 'sourceIp':
      return { value: request.sourceIp };
    case 'cookie': {
      const present = cookieValue(request.header('cookie'), key.name);
      if (present !== undefined || key.ttlMs === undefined) return { value: present };
      const value = generate();
      return { value, setCookie: setCookieValue(key.name, value, key.path, key.ttlMs) };
    }
  }
}

/** A cookie's value from a `Cookie` header (`a=1; b=2`); undefined when absent. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name)
      return part
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** `Set-Cookie` for a generated hash cookie: a TTL of 0 makes a session cookie (no Max-Age). */
export function setCookieValue(name: string, value: string, path: string | undefined, ttlMs: number): string {
  const parts = [`${name}="${value}"`];
  if (ttlMs > 0) parts.push(`Max-Age=${Math.floor(ttlMs / 1000)}`);
  if (path !== undefined) parts.push(`Path=${path}`);
  parts.push('HttpOnly');
  return parts.join('; ');
}

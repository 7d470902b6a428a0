/**
 * Decoded header fields to the map the HBONE server and client read, with the message rules of RFC 9113
 * section 8.2 that keep a malformed request from being half-understood: lowercase names, pseudo-headers
 * first and once each, no connection-specific fields.
 */
import type { HeaderField } from './hpack.ts';
import type { HeaderMap } from './stream.ts';

const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol']);
const RESPONSE_PSEUDO = new Set([':status']);

export type HeaderMapResult = { ok: true; headers: HeaderMap } | { ok: false; reason: string };

/** `kind` says which pseudo-headers are allowed; trailers allow none. */
export function toHeaderMap(
  fields: readonly HeaderField[],
  kind: 'request' | 'response' | 'trailers',
): HeaderMapResult {
  const headers: HeaderMap = Object.create(null);
  const pseudo = kind === 'request' ? REQUEST_PSEUDO : kind === 'response' ? RESPONSE_PSEUDO : undefined;
  let regularSeen = false;
  for (const [name, value] of fields) {
    if (name.length === 0) return { ok: false, reason: 'empty header name' };
    if (/[A-Z]/.test(name)) return { ok: false, reason: `uppercase header name ${name}` };
    if (name.charCodeAt(0) === 0x3a) {
      if (regularSeen) return { ok: false, reason: `pseudo-header ${name} after regular fields` };
      if (!pseudo?.has(name)) return { ok: false, reason: `pseudo-header ${name} not allowed here` };
      if (name in headers) return { ok: false, reason: `repeated ${name}` };
      headers[name] = value;
      continue;
    }
    regularSeen = true;
    if (CONNECTION_SPECIFIC.has(name)) return { ok: false, reason: `connection-specific field ${name}` };
    if (name === 'te' && value !== 'trailers') return { ok: false, reason: 'te other than trailers' };
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  if (kind === 'request' && headers[':method'] === undefined) return { ok: false, reason: 'no :method' };
  if (kind === 'response' && !/^[1-5][0-9][0-9]$/.test(headers[':status'] ?? '')) {
    return { ok: false, reason: `bad :status ${headers[':status'] ?? '(none)'}` };
  }
  return { ok: true, headers };
}

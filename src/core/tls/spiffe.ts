/**
 * SPIFFE identities in certificates: a workload certificate carries exactly one `spiffe://` URI SAN, and
 * that URI is the peer's identity for authorization and metrics.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { parseSpiffeUri } from '../identity.ts';

/**
 * The URI SANs in a subjectAltName string as Node renders it (`DNS:a, URI:spiffe://...`; values with special
 * characters are JSON-quoted: `URI:"spiffe://x,y"`, so a comma inside a value never splits it). Parsing
 * stops at the first malformed quoted value: what came before it is returned.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const uris: string[] = [];
  let i = 0;
  while (i < subjectAltName.length) {
    const colon = subjectAltName.indexOf(':', i);
    if (colon < 0) break;
    const type = subjectAltName.slice(i, colon);
    let value: string;
    let next: number;
    if (subjectAltName[colon + 1] === '"') {
      const end = quotedEnd(subjectAltName, colon + 1);
      try {
        value = JSON.parse(subjectAltName.slice(colon + 1, end)) as string;
      } catch {
        return uris;
      }
      next = subjectAltName.indexOf(', ', end);
    } else {
      next = subjectAltName.indexOf(', ', colon);
      value = subjectAltName.slice(colon + 1, next < 0 ? undefined : next);
    }
    if (type === 'URI') uris.push(value);
    if (next < 0) break;
    i = next + 2;
  }
  return uris;
}

/** The `spiffe://` URIs among a subjectAltName string's URI SANs. */
export function spiffeIdentitiesOfSan(subjectAltName: string | undefined): string[] {
  return uriSans(subjectAltName).filter((uri) => uri.startsWith('spiffe://'));
}

function quotedEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return text.length;
}

export type PeerIdentityResult = { ok: true; identity: string } | { ok: false; reason: string };

/**
 * The identity of a verified peer certificate: exactly one SPIFFE URI SAN of Istio's form, in a trust
 * domain we accept. Anything else is refused (fail closed).
 */
export function identityOfCertificate(
  cert: Pick<PeerCertificate, 'subjectaltname'> | undefined,
  trustDomains: ReadonlySet<string>,
): PeerIdentityResult {
  if (!cert || cert.subjectaltname === undefined) return { ok: false, reason: 'peer certificate has no SAN' };
  const identities = spiffeIdentitiesOfSan(cert.subjectaltname);
  if (identities.length !== 1) {
    return { ok: false, reason: `peer certificate has ${identities.length} SPIFFE identities, expected 1` };
  }
  const identity = identities[0]!;
  const parsed = parseSpiffeUri(identity);
  if (!parsed) return { ok: false, reason: `peer identity ${identity} is not a workload identity` };
  if (!trustDomains.has(parsed.trustDomain)) {
    return { ok: false, reason: `peer identity ${identity} is from a foreign trust domain` };
  }
  return { ok: true, identity };
}

/** The verified identity of a TLS peer (the handshake already checked the chain against the trust bundle). */
export function peerIdentity(socket: TLSSocket, trustDomains: ReadonlySet<string>): PeerIdentityResult {
  if (!socket.authorized) {
    return {
      ok: false,
      reason: `peer certificate not verified: ${socket.authorizationError ?? 'none presented'}`,
    };
  }
  return identityOfCertificate(socket.getPeerCertificate(), trustDomains);
}

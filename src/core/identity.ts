/**
 * SPIFFE workload identities: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`, the form Istio
 * uses, so that policies written for Istio (principals such as `cluster.local/ns/default/sa/sleep`) carry over.
 */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export interface Identity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export function spiffeUri(identity: Identity): string {
  return `spiffe://${identity.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
}

/** The principal as AuthorizationPolicy writes it: the SPIFFE URI without its scheme. */
export function principalOf(identity: Identity): string {
  return `${identity.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
}

/**
 * The characters the SPIFFE ID spec allows: a lowercase trust domain, path segments of letters, digits,
 * `.`, `-` and `_` (no percent-encoding, no `.` or `..` segments, checked below).
 */
const SPIFFE_PATTERN = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([A-Za-z0-9._-]+)\/sa\/([A-Za-z0-9._-]+)$/;

const isDotSegment = (segment: string) => segment === '.' || segment === '..';

/** Parses a SPIFFE URI of Istio's form; anything else (other paths, other schemes) gives undefined. */
export function parseSpiffeUri(uri: string): Identity | undefined {
  const match = SPIFFE_PATTERN.exec(uri);
  if (!match || isDotSegment(match[2]!) || isDotSegment(match[3]!)) return undefined;
  return { trustDomain: match[1]!, namespace: match[2]!, serviceAccount: match[3]! };
}

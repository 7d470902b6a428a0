/**
 * What both kinds of ingress Gateway (the Gateway API's and Istio's classic one) compile the same way: a
 * terminating listener's certificate from a `kubernetes.io/tls` Secret, the order the data plane tries
 * certificates in, and a route narrowed to the hostnames it serves (Host header), ranked by hostname first.
 * Pure.
 */
import type { SecretSpec } from '../../../core/config/kinds/config-objects.ts';
import { ANY_HOSTNAME, type Hostnames, hostnameMatcher, hostnameRank } from '../../../core/l7/hostnames.ts';
import type { ListenerCertificate } from '../../../core/l7/types.ts';
import type { NamedConfig } from '../../../core/model/index.ts';
import type { Candidate } from '../l7/gateway-routes.ts';

/** The certificate a Secret holds for `hostname` (undefined: any SNI), or why it holds none. */
export function secretCertificate(
  secret: NamedConfig<SecretSpec>,
  hostname: string | undefined,
): ListenerCertificate | string {
  const certificatePem = decoded(secret.spec.entries['tls.crt']);
  const keyPem = decoded(secret.spec.entries['tls.key']);
  if (!certificatePem?.includes('BEGIN CERTIFICATE') || !keyPem?.includes('PRIVATE KEY'))
    return `Secret ${secret.namespace}/${secret.name} needs PEM tls.crt and tls.key (type kubernetes.io/tls)`;
  return { hostname, certificatePem, keyPem };
}

function decoded(base64: string | undefined): string | undefined {
  return base64 === undefined ? undefined : Buffer.from(base64, 'base64').toString('utf8');
}

/** The data plane takes the first certificate whose hostname matches the SNI: most specific first. */
export function byHostnamePrecedence(certificates: readonly ListenerCertificate[]): ListenerCertificate[] {
  return certificates
    .map((certificate, index) => ({ certificate, index, rank: hostnameRank(certificate.hostname) }))
    .sort((a, b) => b.rank[0] - a.rank[0] || b.rank[1] - a.rank[1] || a.index - b.index)
    .map((entry) => entry.certificate);
}

/** A route once per hostname it serves, each match asking for that Host; ranked by the hostname first. */
export function withHostnames(candidate: Candidate, hostnames: Hostnames): Candidate[] {
  if (hostnames === ANY_HOSTNAME) return [{ ...candidate, rank: [0, 0, ...candidate.rank] }];
  return hostnames.map((host) => ({
    route: {
      ...candidate.route,
      matches: (candidate.route.matches.length === 0
        ? [{ headers: [], queryParams: [] }]
        : candidate.route.matches
      ).map((match) => ({ ...match, authority: hostnameMatcher(host) })),
    },
    rank: [...hostnameRank(host), ...candidate.rank],
  }));
}

/**
 * RequestAuthentication as Ambit reads it: a full policy parses to its typed spec; invalid ones get exactly
 * the errors listed, naming file, document and field; the compiler gives the JWT rules of policies attached
 * to the waypoint or to a Service to that served Service (an issuer twice keeps the first, with a note).
 */
import { describe, expect, it } from 'vitest';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { buildMesh } from '../../src/control/model/mesh.ts';
import { waypointRouteTable } from '../../src/control/model/views.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import { routeTableProblems } from '../../src/core/l7/validate.ts';

const HEAD =
  'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: shop}\n';
const JWKS =
  '{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}';
const check = (spec: string) => {
  const parsed = parseFiles([{ name: 'ra.yaml', content: `${HEAD}spec:\n${spec}` }], CONTROL_KINDS);
  return { parsed, messages: parsed.issues.map(formatIssue) };
};
const at = (field: string, message: string) =>
  `ra.yaml: document 1 (RequestAuthentication shop/jwt): ${field}: ${message}`;

describe('RequestAuthentication validation', () => {
  it('parses a full policy', () => {
    const { parsed, messages } = check(`  targetRefs: [{kind: Service, group: "", name: cart}]
  jwtRules:
  - issuer: https://issuer.example
    audiences: [shop]
    jwks: '${JWKS}'
    fromHeaders: [{name: X-Jwt, prefix: "Bearer "}]
    fromParams: [token]
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
    forwardOriginalToken: true
  - issuer: other
    jwksUri: http://keys.shop.svc.cluster.local/jwks.json
    timeout: 2s
`);
    expect(messages).toEqual([]);
    const spec = parsed.resources[0]!.spec as { jwtRules: Record<string, unknown>[] };
    expect(spec.jwtRules[0]).toMatchObject({
      issuer: 'https://issuer.example',
      audiences: ['shop'],
      fromHeaders: [{ name: 'x-jwt', prefix: 'Bearer ' }],
      fromParams: ['token'],
      outputPayloadToHeader: 'x-jwt-payload',
      outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }],
      forwardOriginalToken: true,
    });
    expect(spec.jwtRules[1]).toMatchObject({
      jwksUri: 'http://keys.shop.svc.cluster.local/jwks.json',
      timeout: 2000,
    });
  });

  it.each<[string, string, string[]]>([
    [
      'issuer required',
      '  jwtRules: [{jwks: \'{"keys":[]}\'}]\n',
      [at('spec.jwtRules[0].issuer', 'required field is missing')],
    ],
    [
      'jwks and jwksUri together',
      `  jwtRules: [{issuer: a, jwks: '${JWKS}', jwksUri: 'https://k/j'}]\n`,
      [at('spec.jwtRules[0]', 'jwks and jwksUri are mutually exclusive: set only one')],
    ],
    [
      'jwks not JSON',
      "  jwtRules: [{issuer: a, jwks: 'nope'}]\n",
      [at('spec.jwtRules[0].jwks', 'not JSON (Unexpected token \'o\', "nope" is not valid JSON)')],
    ],
    [
      'jwks without keys',
      "  jwtRules: [{issuer: a, jwks: '{}'}]\n",
      [at('spec.jwtRules[0].jwks', 'not a JSON Web Key Set: it needs a "keys" list')],
    ],
    [
      'jwksUri not http(s)',
      "  jwtRules: [{issuer: a, jwksUri: 'ftp://k/j'}]\n",
      [at('spec.jwtRules[0].jwksUri', 'invalid value "ftp://k/j": an http:// or https:// URL')],
    ],
    [
      'a bad header name',
      "  jwtRules: [{issuer: a, jwksUri: 'https://k', fromHeaders: [{name: 'bad header'}]}]\n",
      [at('spec.jwtRules[0].fromHeaders[0].name', 'invalid value "bad header": a header name')],
    ],
    [
      'one issuer twice',
      "  jwtRules: [{issuer: a, jwksUri: 'https://k'}, {issuer: a, jwksUri: 'https://l'}]\n",
      [at('spec.jwtRules[1].issuer', 'issuer "a" has another rule in this policy')],
    ],
    [
      'selector and targetRefs together',
      "  selector: {matchLabels: {app: x}}\n  targetRefs: [{kind: Service, group: '', name: x}]\n",
      [at('spec', 'selector and targetRefs are mutually exclusive: set only one')],
    ],
    [
      'an unknown field',
      "  jwtRules: [{issuer: a, jwksUri: 'https://k', forwardToken: true}]\n",
      [
        at(
          'spec.jwtRules[0].forwardToken',
          'unknown field (known fields: issuer, audiences, jwksUri, jwks, fromHeaders, fromParams, fromCookies, outputPayloadToHeader, outputClaimToHeaders, forwardOriginalToken, timeout, presence, spaceDelimitedClaims)',
        ),
      ],
    ],
  ])('%s', (_name, spec, errors) => {
    const { parsed, messages } = check(spec);
    expect(messages).toEqual(errors);
    expect(parsed.resources).toEqual([]);
  });

  it('warns about a rule without keys (no OpenID discovery)', () => {
    expect(check('  jwtRules: [{issuer: a}]\n').messages).toEqual([
      `warning: ${at('spec.jwtRules[0]', 'neither jwks nor jwksUri: Ambit does not discover keys from the issuer (OpenID discovery); every token of this issuer fails')}`,
    ]);
  });
});

describe('RequestAuthentication in a waypoint route table', () => {
  const MESH = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: shop}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/use-waypoint: wp}}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {selector: {app: cart}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: till, namespace: shop}
spec: {selector: {app: till}, ports: [{name: http, port: 80}]}
`;
  const policy = (name: string, target: string, issuer: string) =>
    `---\n${HEAD.replace('name: jwt', `name: ${name}`)}spec:\n  targetRefs: [${target}]\n  jwtRules: [{issuer: ${issuer}, jwks: '${JWKS}'}]\n`;

  it('attaches rules by Gateway and by Service; an issuer twice keeps the first', () => {
    const parsed = parseFiles(
      [
        {
          name: 'm.yaml',
          content:
            MESH +
            policy('a-all', '{kind: Gateway, group: gateway.networking.k8s.io, name: wp}', 'everyone') +
            policy('b-cart', '{kind: Service, group: "", name: cart}', 'carts') +
            policy('c-cart', '{kind: Service, group: "", name: cart}', 'everyone'),
        },
      ],
      CONTROL_KINDS,
    );
    expect(parsed.issues.map(formatIssue)).toEqual([]);
    const mesh = buildMesh({
      resources: parsed.resources,
      pods: [],
      trustDomain: 'cluster.local',
      trustBundle: [],
    });
    const { table, notes } = waypointRouteTable(mesh, mesh.gateways[0]!);
    const issuers = (name: string) =>
      table.servedServices
        .find((service) => service.name === name)!
        .requestAuthentication?.map((r) => r.issuer);
    expect(issuers('cart')).toEqual(['everyone', 'carts']);
    expect(issuers('till')).toEqual(['everyone']);
    expect(notes).toContainEqual(
      expect.objectContaining({
        kind: 'RequestAuthentication',
        name: 'c-cart',
        path: 'spec.jwtRules[0].issuer',
      }),
    );
    expect(routeTableProblems(table)).toEqual([]);
  });
});

/**
 * The parsers at the trust boundary: what a peer's certificate, an HBONE CONNECT's headers and the control
 * plane's snapshot say is read by these, so they are fed hostile input: oversized, oddly quoted, injected.
 * Each must answer "nothing" (or name the problem), never a wrong value, never throw, in linear time.
 */
import { describe, expect, it } from 'vitest';
import { parseBaggage, parseForwardedFor, validTraceparent } from '../../src/core/hbone/headers.ts';
import type { NodeSnapshot } from '../../src/core/model/index.ts';
import { identityOfCertificate, spiffeIdentitiesOfSan } from '../../src/core/tls/spiffe.ts';
import { snapshotProblems } from '../../src/ztunnel/state/validate.ts';
import { policy, rule, service, snapshot, source, target, workload } from '../support/mesh-fixtures.ts';

const ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const HUGE = 1_000_000;

describe('spiffeIdentitiesOfSan', () => {
  it.each<[string, string | undefined, string[]]>([
    ['one identity', `URI:${ID}`, [ID]],
    ['an identity among DNS and IP SANs', `DNS:cart.shop, IP Address:10.0.0.1, URI:${ID}`, [ID]],
    [
      'two identities (the caller refuses that)',
      `URI:${ID}, URI:spiffe://x/ns/a/sa/b`,
      [ID, 'spiffe://x/ns/a/sa/b'],
    ],
    // A forged SAN hidden inside a quoted DNS value is part of that value, not a SAN of its own.
    ['a URI smuggled inside a quoted DNS name', `DNS:"a, URI:spiffe://evil/ns/a/sa/b"`, []],
    ['a URI smuggled inside a quoted URI', `URI:"https://x, URI:${ID}"`, []],
    ['a quoted identity with a comma', 'URI:"spiffe://td/ns/a,b/sa/c"', ['spiffe://td/ns/a,b/sa/c']],
    ['an unterminated quote', `URI:${ID}, URI:"spiffe://td/ns/b/sa/c`, [ID]],
    [
      'an escaped quote that does not end the value',
      'URI:"spiffe://td/ns/\\", URI:x"',
      ['spiffe://td/ns/", URI:x'],
    ],
    ['the type in another case', `uri:${ID}`, []],
    ['the scheme in another case', 'URI:SPIFFE://cluster.local/ns/shop/sa/cart', []],
    ['a spiffe URI as a DNS name', `DNS:${ID}`, []],
    ['a SAN without a type', ID.slice('spiffe:'.length), []],
    ['no SAN', undefined, []],
    ['an empty SAN', '', []],
    ['only separators', ', , ,', []],
  ])('%s', (_what, san, expected) => {
    expect(spiffeIdentitiesOfSan(san)).toEqual(expected);
  });

  it('reads an oversized SAN list in linear time, missing none', () => {
    const san = `${'DNS:x.example, '.repeat(HUGE / 16)}URI:${ID}`;
    expect(spiffeIdentitiesOfSan(san)).toEqual([ID]);
    expect(spiffeIdentitiesOfSan(`URI:"${'a'.repeat(HUGE)}`)).toEqual([]);
  });

  it.each<[string, string | undefined, string | false]>([
    ['the one identity of our trust domain', `URI:${ID}`, ID],
    ['no SAN at all', undefined, false],
    ['two identities', `URI:${ID}, URI:spiffe://cluster.local/ns/a/sa/b`, false],
    ['a foreign trust domain', 'URI:spiffe://evil.example/ns/shop/sa/cart', false],
    ['an identity not of the workload form', 'URI:spiffe://cluster.local/admin', false],
    ['a smuggled identity', 'DNS:"x, URI:spiffe://cluster.local/ns/a/sa/b"', false],
    ['path traversal in the identity', 'URI:spiffe://cluster.local/ns/../sa/cart', false],
  ])('authenticates a peer by %s: %s', (_what, san, identity) => {
    const result = identityOfCertificate(
      san === undefined ? {} : { subjectaltname: san },
      new Set(['cluster.local']),
    );
    expect(result).toEqual(identity ? { ok: true, identity } : { ok: false, reason: expect.any(String) });
  });
});

describe('parseForwardedFor', () => {
  it.each<[string, string | undefined, { ip: string; port: number } | undefined]>([
    ['what our outbound sends', 'for="10.0.0.1:4321"', { ip: '10.0.0.1', port: 4321 }],
    ['IPv6 in brackets', 'for="[fd00::1]:80"', { ip: 'fd00::1', port: 80 }],
    ['an unquoted node', 'for=10.0.0.1:4321', { ip: '10.0.0.1', port: 4321 }],
    ['the parameter name in upper case', 'FOR="10.0.0.1:1"', { ip: '10.0.0.1', port: 1 }],
    [
      'for= after other parameters',
      'by="10.9.9.9:1";proto=http;for="10.0.0.1:2"',
      { ip: '10.0.0.1', port: 2 },
    ],
    ['the first of several elements', 'for="10.0.0.1:2", for="10.0.0.3:4"', { ip: '10.0.0.1', port: 2 }],
    ['no header', undefined, undefined],
    ['an empty header', '', undefined],
    ['for= without a port', 'for="10.0.0.1"', undefined],
    ['an obfuscated node', 'for="_hidden"', undefined],
    ['unknown', 'for=unknown', undefined],
    ['port 0', 'for="10.0.0.1:0"', undefined],
    ['a port over 65535', 'for="10.0.0.1:65536"', undefined],
    ['a port with six digits', 'for="10.0.0.1:000080"', undefined],
    ['an unterminated quote', 'for="10.0.0.1:80', undefined],
    ['a parameter that merely ends in for', 'xfor="10.0.0.1:80"', undefined],
    ['an IPv6 address without brackets', 'for="fd00::1:80"', undefined],
    ['a second host:port smuggled in', 'for="10.0.0.1:80:90"', undefined],
    ['a newline injected', 'for="10.0.0.1\n:80"', undefined],
  ])('%s', (_what, header, expected) => {
    expect(parseForwardedFor(header)).toEqual(expected);
  });

  it('reads an oversized header in linear time', () => {
    expect(parseForwardedFor(`${'a'.repeat(HUGE)}, for="10.0.0.1:2"`)).toEqual({ ip: '10.0.0.1', port: 2 });
    expect(parseForwardedFor(`for="${'1'.repeat(HUGE)}`)).toBeUndefined();
  });
});

describe('parseBaggage', () => {
  it.each<[string, string | undefined, Record<string, string>]>([
    [
      'what our outbound sends',
      'k8s.namespace.name=shop,k8s.pod.name=cart-1,service.name=cart,service.version=v2',
      { namespace: 'shop', podName: 'cart-1', canonicalName: 'cart', canonicalRevision: 'v2' },
    ],
    ['percent-encoded values', 'service.name=a%2Cb%3Dc', { canonicalName: 'a,b=c' }],
    ['member properties (dropped)', 'service.name=cart;owner=x;y', { canonicalName: 'cart' }],
    [
      'spaces around members',
      ' service.name = cart , k8s.pod.name=p ',
      { canonicalName: 'cart', podName: 'p' },
    ],
    ['a value containing =', 'k8s.pod.name=a=b', { podName: 'a=b' }],
    ['a repeated key (the last wins)', 'service.name=a,service.name=b', { canonicalName: 'b' }],
    ['a bad percent escape (that member skipped)', 'service.name=%E0%A4%A,k8s.pod.name=p', { podName: 'p' }],
    ['unknown keys', 'user.id=42,__proto__=x,constructor=y', {}],
    ['a control character (that member skipped)', 'service.name=a%0Aforged,k8s.pod.name=p', { podName: 'p' }],
    ['an escape sequence (skipped)', 'k8s.namespace.name=%1B%5B31m', {}],
    ['a C1 control character (skipped)', 'service.version=v%C2%851', {}],
    ['a value longer than any Kubernetes name (skipped)', `service.name=${'a'.repeat(254)}`, {}],
    ['the longest name Kubernetes allows', `k8s.pod.name=${'a'.repeat(253)}`, { podName: 'a'.repeat(253) }],
    ['a member without =', 'service.name', {}],
    ['no header', undefined, {}],
    ['an empty header', '', {}],
    ['only commas', ',,,', {}],
  ])('%s', (_what, header, expected) => {
    const parsed = parseBaggage(header);
    expect({ ...parsed }).toEqual(expected);
    // A hostile key never reaches the object's prototype.
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  it('reads an oversized header in linear time', () => {
    const header = `${'x=y,'.repeat(HUGE / 4)}service.name=cart`;
    expect(parseBaggage(header)).toEqual({ canonicalName: 'cart' });
  });
});

describe('validTraceparent', () => {
  const good = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  it.each<[string, string | undefined, boolean]>([
    ['a well-formed header', good, true],
    ['unsampled', good.replace(/01$/, '00'), true],
    ['a future version', `cc${good.slice(2)}`, true],
    ['version ff (forbidden)', `ff${good.slice(2)}`, false],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, false],
    ['an all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`, false],
    ['upper-case hex', good.toUpperCase(), false],
    ['a short trace id', good.replace('4bf92f35', '4bf92f3'), false],
    ['trailing data', `${good}-extra`, false],
    ['a header injection', `${good}\r\nx-evil: 1`, false],
    ['surrounding spaces', ` ${good} `, false],
    ['no header', undefined, false],
    ['an empty header', '', false],
    ['an oversized header', good + '0'.repeat(HUGE), false],
  ])('%s', (_what, header, valid) => {
    expect(validTraceparent(header)).toBe(valid ? header : undefined);
  });
});

describe('snapshotProblems', () => {
  const good = () =>
    snapshot({
      workloads: [workload({ name: 'cart', uid: 'shop/cart', ips: ['10.244.1.2'] })],
      services: [service({ namespace: 'shop', name: 'cart', vips: ['10.96.0.10'] })],
      policies: [
        policy({
          name: 'p',
          rules: [rule({ from: [source({ ipBlocks: ['10.0.0.0/8'] })], to: [target({ ports: [8080] })] })],
        }),
      ],
    });

  it('finds nothing wrong with a good snapshot', () => {
    expect(snapshotProblems(good())).toEqual([]);
  });

  it.each<[string, (s: NodeSnapshot) => NodeSnapshot, RegExp]>([
    ['an empty version', (s) => ({ ...s, version: '' }), /^version: must be set$/],
    [
      'a duplicate workload uid',
      (s) => ({ ...s, workloads: [...s.workloads, s.workloads[0]!] }),
      /^workloads\[1\] \(shop\/cart\): duplicate uid$/,
    ],
    [
      'a workload IP that is a hostname',
      (s) => ({ ...s, workloads: [{ ...s.workloads[0]!, ips: ['cart.shop'] }] }),
      /workloads\[0\] \(shop\/cart\)\.ips\[0\]: "cart\.shop" is not an IP address/,
    ],
    [
      'a workload IP with a zone or CIDR suffix',
      (s) => ({ ...s, workloads: [{ ...s.workloads[0]!, ips: ['10.0.0.1/32'] }] }),
      /ips\[0\]: "10\.0\.0\.1\/32" is not an IP address/,
    ],
    [
      'an identity that is not SPIFFE',
      (s) => ({ ...s, workloads: [{ ...s.workloads[0]!, identity: 'cluster.local/ns/shop/sa/cart' }] }),
      /identity: "cluster\.local\/ns\/shop\/sa\/cart" is not a SPIFFE workload identity/,
    ],
    [
      'an identity that escapes its path',
      (s) => ({ ...s, workloads: [{ ...s.workloads[0]!, identity: 'spiffe://cluster.local/ns/../sa/x' }] }),
      /is not a SPIFFE workload identity/,
    ],
    [
      'a service VIP that is no IP',
      (s) => ({ ...s, services: [{ ...s.services[0]!, vips: ['10.96.0.300'] }] }),
      /services\[0\] \(shop\/cart\)\.vips\[0\]: "10\.96\.0\.300" is not an IP address/,
    ],
    [
      'a service port of 0',
      (s) => ({
        ...s,
        services: [
          { ...s.services[0]!, ports: [{ name: 'http', protocol: 'TCP', port: 0, targetPort: 80 }] },
        ],
      }),
      /ports\[0\]\.port: 0 is not a port/,
    ],
    [
      'a fractional target port',
      (s) => ({
        ...s,
        services: [
          { ...s.services[0]!, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 80.5 }] },
        ],
      }),
      /ports\[0\]\.targetPort: 80\.5 is not a port/,
    ],
    [
      'a policy CIDR with too long a prefix',
      (s) => ({
        ...s,
        policies: [{ ...s.policies[0]!, rules: [rule({ from: [source({ ipBlocks: ['10.0.0.0/33'] })] })] }],
      }),
      /policies\[0\] \(default\/p\)\.rules\[0\]\.from\[0\]\.ipBlocks\[0\]: "10\.0\.0\.0\/33" is not an IP address or CIDR block/,
    ],
    [
      'a policy port over 65535',
      (s) => ({
        ...s,
        policies: [{ ...s.policies[0]!, rules: [rule({ to: [target({ ports: [65536] })] })] }],
      }),
      /rules\[0\]\.to\[0\]\.ports\[0\]: 65536 is not a port/,
    ],
    [
      'a destination.port condition that is no number',
      (s) => ({
        ...s,
        policies: [
          {
            ...s.policies[0]!,
            rules: [rule({ when: [{ key: 'destination.port', values: ['80; rm -rf'], notValues: [] }] })],
          },
        ],
      }),
      /rules\[0\]\.when\[0\]\.values\[0\]: NaN is not a port/,
    ],
  ])('names the path of %s', (_what, spoil, expected) => {
    const problems = snapshotProblems(spoil(good()));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });

  it('reports every problem of a hostile snapshot, each with its path', () => {
    const many = snapshot({
      workloads: Array.from({ length: 1000 }, (_, i) =>
        workload({ name: `w${i}`, uid: `a/w${i}`, ips: [`not-an-ip-${i}`] }),
      ),
    });
    const problems = snapshotProblems(many);
    expect(problems).toHaveLength(1000);
    expect(problems[999]).toBe('workloads[999] (a/w999).ips[0]: "not-an-ip-999" is not an IP address');
  });
});

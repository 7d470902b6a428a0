/** How the reconciler picks a running pod's namespace among the runtime's pinned ones: by the pod's IPs. */
import { describe, expect, it } from 'vitest';
import { interfaceAddresses, type NetnsMatch, namespaceHolding } from '../../src/cni/pinned-netns.ts';

describe('interfaceAddresses', () => {
  it.each<[string, string, string[]]>([
    [
      'loopback and a pod interface, both families',
      JSON.stringify([
        {
          ifname: 'lo',
          addr_info: [
            { family: 'inet', local: '127.0.0.1' },
            { family: 'inet6', local: '::1' },
          ],
        },
        {
          ifname: 'eth0',
          addr_info: [
            { family: 'inet', local: '10.244.1.7', prefixlen: 24 },
            { family: 'inet6', local: 'fd00::7' },
          ],
        },
      ]),
      ['127.0.0.1', '::1', '10.244.1.7', 'fd00::7'],
    ],
    [
      'an interface without addresses',
      JSON.stringify([{ ifname: 'lo', addr_info: [] }, { ifname: 'x' }]),
      [],
    ],
    ['no interfaces', '[]', []],
  ])('%s', (_, json, expected) => {
    expect(interfaceAddresses(json)).toEqual(expected);
  });

  it('refuses output that is not a list of links', () => {
    expect(() => interfaceAddresses('{"ifname":"lo"}')).toThrow(/not print a list/);
  });
});

describe('namespaceHolding', () => {
  const pinned = new Map<string, string[]>([
    ['/var/run/netns/cni-a', ['127.0.0.1', '10.244.1.7', 'fd00::7']],
    ['/var/run/netns/cni-b', ['127.0.0.1', '10.244.1.8']],
    ['/var/run/netns/cni-stale', ['127.0.0.1', '10.244.1.9']],
    ['/var/run/netns/cni-new', ['127.0.0.1', '10.244.1.9']],
  ]);
  it.each<[string, string[], NetnsMatch | RegExp]>([
    ['the one namespace with the IP', ['10.244.1.8'], { path: '/var/run/netns/cni-b' }],
    ['dual stack: the one holding both', ['10.244.1.7', 'fd00::7'], { path: '/var/run/netns/cni-a' }],
    ['dual stack: one family missing is no match', ['10.244.1.8', 'fd00::8'], /no network namespace/],
    ['an IP no namespace holds', ['10.244.1.50'], /no network namespace pinned under \/var\/run\/netns/],
    ['two namespaces hold it (a stale sandbox)', ['10.244.1.9'], /2 pinned network namespaces .* ambiguous/],
    ['no IP yet', [], /no IP yet/],
  ])('%s', (_, ips, expected) => {
    const match = namespaceHolding(ips, pinned);
    if (expected instanceof RegExp) expect('problem' in match && match.problem).toMatch(expected);
    else expect(match).toEqual(expected);
  });
});

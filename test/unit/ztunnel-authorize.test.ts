import { describe, expect, it } from 'vitest';
import type { L4Policy } from '../../src/core/model/index.ts';
import { authorize, type ConnectionAttributes } from '../../src/ztunnel/state/authorize.ts';
import { condition, policy, rule, source, target, workload } from '../support/mesh-fixtures.ts';

const server = workload({ name: 'server', namespace: 'default', labels: { app: 'server', version: 'v1' } });
const client = 'spiffe://cluster.local/ns/client-ns/sa/client';

const base: ConnectionAttributes = {
  sourceIp: '10.244.1.5',
  sourceIdentity: client,
  destinationIp: '10.244.0.10',
  destinationPort: 8080,
};

interface Case {
  name: string;
  policies: L4Policy[];
  connection?: Partial<ConnectionAttributes>;
  allowed: boolean;
  /** The deciding policy's name, when one decides. */
  by?: string;
}

const allowFrom = (name: string, from: Parameters<typeof source>[0]) =>
  policy({ name, rules: [rule({ from: [source(from)] })] });
const denyFrom = (name: string, from: Parameters<typeof source>[0]) =>
  policy({ name, action: 'DENY', rules: [rule({ from: [source(from)] })] });
const allowWhen = (name: string, ...when: ReturnType<typeof condition>[]) =>
  policy({ name, rules: [rule({ when })] });

const cases: Case[] = [
  // Defaults and the ALLOW/DENY combination.
  { name: 'no policy allows', policies: [], allowed: true },
  {
    name: 'ALLOW with an empty rule allows everything',
    policies: [policy({ name: 'all' })],
    allowed: true,
    by: 'all',
  },
  {
    name: 'ALLOW without rules (spec: {}) allows nothing',
    policies: [policy({ name: 'none', rules: [] })],
    allowed: false,
  },
  {
    name: 'DENY without rules denies nothing',
    policies: [policy({ name: 'd', action: 'DENY', rules: [] })],
    allowed: true,
  },
  {
    name: 'DENY with an empty rule denies everything',
    policies: [policy({ name: 'd', action: 'DENY' })],
    allowed: false,
    by: 'd',
  },
  {
    name: 'DENY wins over a matching ALLOW',
    policies: [policy({ name: 'a' }), policy({ name: 'd', action: 'DENY' })],
    allowed: false,
    by: 'd',
  },
  {
    name: 'an ALLOW policy that does not match means default deny',
    policies: [allowFrom('a', { namespaces: ['other'] })],
    allowed: false,
  },
  {
    name: 'any matching ALLOW policy allows',
    policies: [allowFrom('a', { namespaces: ['other'] }), allowFrom('b', { namespaces: ['client-ns'] })],
    allowed: true,
    by: 'b',
  },
  {
    name: 'a non-matching DENY leaves the decision to ALLOW policies',
    policies: [denyFrom('d', { namespaces: ['other'] }), allowFrom('a', { namespaces: ['client-ns'] })],
    allowed: true,
    by: 'a',
  },
  // Scope and selectors.
  {
    name: 'a policy of another namespace does not apply',
    policies: [policy({ name: 'x', namespace: 'other', rules: [] })],
    allowed: true,
  },
  {
    name: 'a mesh policy (root namespace) applies to every namespace',
    policies: [policy({ name: 'm', namespace: 'istio-system', scope: 'mesh', rules: [] })],
    allowed: false,
  },
  {
    name: 'a workload policy whose selector matches applies',
    policies: [policy({ name: 'w', scope: 'workload', selector: { app: 'server' }, rules: [] })],
    allowed: false,
  },
  {
    name: 'a workload policy whose selector does not match does not apply',
    policies: [
      policy({ name: 'w', scope: 'workload', selector: { app: 'server', version: 'v2' }, rules: [] }),
    ],
    allowed: true,
  },
  {
    name: 'a selector policy in the root namespace applies to matching workloads of any namespace',
    policies: [
      policy({
        name: 'w',
        namespace: 'istio-system',
        scope: 'workload',
        selector: { app: 'server' },
        rules: [],
      }),
    ],
    allowed: false,
  },
  {
    name: 'a selector policy of another namespace does not apply even if labels match',
    policies: [
      policy({ name: 'w', namespace: 'other', scope: 'workload', selector: { app: 'server' }, rules: [] }),
    ],
    allowed: true,
  },
  // Principals.
  {
    name: 'principal exact match',
    policies: [allowFrom('a', { principals: ['cluster.local/ns/client-ns/sa/client'] })],
    allowed: true,
    by: 'a',
  },
  {
    name: 'principal mismatch',
    policies: [allowFrom('a', { principals: ['cluster.local/ns/client-ns/sa/other'] })],
    allowed: false,
  },
  {
    name: 'principal prefix wildcard',
    policies: [allowFrom('a', { principals: ['cluster.local/ns/client-ns/*'] })],
    allowed: true,
  },
  {
    name: 'principal suffix wildcard',
    policies: [allowFrom('a', { principals: ['*/sa/client'] })],
    allowed: true,
  },
  {
    name: 'principal * matches any authenticated peer',
    policies: [allowFrom('a', { principals: ['*'] })],
    allowed: true,
  },
  {
    name: 'principal * does not match a plaintext peer',
    policies: [allowFrom('a', { principals: ['*'] })],
    connection: { sourceIdentity: undefined },
    allowed: false,
  },
  {
    name: 'notPrincipals excludes',
    policies: [allowFrom('a', { notPrincipals: ['*/sa/client'] })],
    allowed: false,
  },
  {
    name: 'notPrincipals lets others through',
    policies: [allowFrom('a', { notPrincipals: ['*/sa/admin'] })],
    allowed: true,
  },
  {
    name: 'DENY notPrincipals denies a plaintext peer (it has no principal to exempt it)',
    policies: [denyFrom('d', { notPrincipals: ['cluster.local/ns/client-ns/sa/client'] })],
    connection: { sourceIdentity: undefined },
    allowed: false,
    by: 'd',
  },
  // Namespaces come from the verified identity.
  { name: 'namespace match', policies: [allowFrom('a', { namespaces: ['client-ns'] })], allowed: true },
  { name: 'namespace prefix', policies: [allowFrom('a', { namespaces: ['client-*'] })], allowed: true },
  {
    name: 'notNamespaces excludes',
    policies: [allowFrom('a', { notNamespaces: ['client-ns'] })],
    allowed: false,
  },
  {
    name: 'namespace of a plaintext peer is unknown',
    policies: [allowFrom('a', { namespaces: ['client-ns'] })],
    connection: { sourceIdentity: undefined },
    allowed: false,
  },
  // IP blocks.
  { name: 'ipBlocks CIDR v4', policies: [allowFrom('a', { ipBlocks: ['10.244.1.0/24'] })], allowed: true },
  {
    name: 'ipBlocks CIDR v4 non-octet prefix',
    policies: [allowFrom('a', { ipBlocks: ['10.244.0.0/23'] })],
    allowed: true,
  },
  {
    name: 'ipBlocks CIDR v4 outside',
    policies: [allowFrom('a', { ipBlocks: ['10.244.2.0/23'] })],
    allowed: false,
  },
  {
    name: 'ipBlocks single address',
    policies: [allowFrom('a', { ipBlocks: ['10.244.1.5'] })],
    allowed: true,
  },
  {
    name: 'ipBlocks /0 matches all IPv4',
    policies: [allowFrom('a', { ipBlocks: ['0.0.0.0/0'] })],
    allowed: true,
  },
  {
    name: 'ipBlocks IPv4-mapped source counts as IPv4',
    policies: [allowFrom('a', { ipBlocks: ['10.244.1.0/24'] })],
    connection: { sourceIp: '::ffff:10.244.1.5' },
    allowed: true,
  },
  {
    name: 'ipBlocks CIDR v6',
    policies: [allowFrom('a', { ipBlocks: ['fd00:10:244::/48'] })],
    connection: { sourceIp: 'fd00:10:244:1::5' },
    allowed: true,
  },
  {
    name: 'ipBlocks CIDR v6 outside',
    policies: [allowFrom('a', { ipBlocks: ['fd00:10:244::/48'] })],
    connection: { sourceIp: 'fd00:10:245::5' },
    allowed: false,
  },
  {
    name: 'an IPv4 block never matches an IPv6 source',
    policies: [allowFrom('a', { ipBlocks: ['0.0.0.0/0'] })],
    connection: { sourceIp: 'fd00::5' },
    allowed: false,
  },
  {
    name: 'notIpBlocks excludes',
    policies: [allowFrom('a', { notIpBlocks: ['10.244.1.0/24'] })],
    allowed: false,
  },
  {
    name: 'notIpBlocks lets others through',
    policies: [allowFrom('a', { notIpBlocks: ['10.244.9.0/24'] })],
    allowed: true,
  },
  // Every field of one source must match; any source of a rule may match.
  {
    name: 'fields of one source are ANDed',
    policies: [allowFrom('a', { namespaces: ['client-ns'], ipBlocks: ['10.0.0.0/24'] })],
    allowed: false,
  },
  {
    name: 'sources of one rule are ORed',
    policies: [
      policy({
        name: 'a',
        rules: [rule({ from: [source({ namespaces: ['x'] }), source({ ipBlocks: ['10.244.1.5'] })] })],
      }),
    ],
    allowed: true,
  },
  // Ports.
  {
    name: 'to.ports match',
    policies: [policy({ name: 'a', rules: [rule({ to: [target({ ports: [8080] })] })] })],
    allowed: true,
  },
  {
    name: 'to.ports mismatch',
    policies: [policy({ name: 'a', rules: [rule({ to: [target({ ports: [9090] })] })] })],
    allowed: false,
  },
  {
    name: 'to.notPorts excludes',
    policies: [policy({ name: 'a', rules: [rule({ to: [target({ notPorts: [8080] })] })] })],
    allowed: false,
  },
  {
    name: 'from and to of one rule are ANDed',
    policies: [
      policy({
        name: 'a',
        rules: [rule({ from: [source({ namespaces: ['client-ns'] })], to: [target({ ports: [9090] })] })],
      }),
    ],
    allowed: false,
  },
  {
    name: 'rules of one policy are ORed',
    policies: [
      policy({
        name: 'a',
        rules: [rule({ to: [target({ ports: [9090] })] }), rule({ to: [target({ ports: [8080] })] })],
      }),
    ],
    allowed: true,
  },
  {
    name: 'DENY on a port denies that port only',
    policies: [policy({ name: 'd', action: 'DENY', rules: [rule({ to: [target({ ports: [9090] })] })] })],
    allowed: true,
  },
  {
    name: 'DENY on the connection port denies it',
    policies: [policy({ name: 'd', action: 'DENY', rules: [rule({ to: [target({ ports: [8080] })] })] })],
    allowed: false,
    by: 'd',
  },
  // Conditions.
  {
    name: 'when source.ip',
    policies: [allowWhen('a', condition('source.ip', ['10.244.1.0/24']))],
    allowed: true,
  },
  {
    name: 'when source.ip notValues',
    policies: [allowWhen('a', condition('source.ip', [], ['10.244.1.5']))],
    allowed: false,
  },
  {
    name: 'when source.namespace',
    policies: [allowWhen('a', condition('source.namespace', ['client-ns']))],
    allowed: true,
  },
  {
    name: 'when source.namespace mismatch',
    policies: [allowWhen('a', condition('source.namespace', ['x']))],
    allowed: false,
  },
  {
    name: 'when source.principal',
    policies: [allowWhen('a', condition('source.principal', ['*/sa/client']))],
    allowed: true,
  },
  {
    name: 'when destination.ip',
    policies: [allowWhen('a', condition('destination.ip', ['10.244.0.0/24']))],
    allowed: true,
  },
  {
    name: 'when destination.ip mismatch',
    policies: [allowWhen('a', condition('destination.ip', ['10.9.0.0/16']))],
    allowed: false,
  },
  {
    name: 'when destination.port',
    policies: [allowWhen('a', condition('destination.port', ['8080']))],
    allowed: true,
  },
  {
    name: 'when destination.port notValues',
    policies: [allowWhen('a', condition('destination.port', [], ['8080']))],
    allowed: false,
  },
  {
    name: 'every when condition must match',
    policies: [allowWhen('a', condition('destination.port', ['8080']), condition('source.namespace', ['x']))],
    allowed: false,
  },
];

describe('authorize: Istio L4 semantics', () => {
  it.each(cases)('$name', ({ policies, connection, allowed, by }) => {
    const result = authorize(policies, server, { ...base, ...connection });
    expect(result.allowed).toBe(allowed);
    if (by !== undefined) expect(result.policy?.name).toBe(by);
    if (policies.length === 0) expect(result.reason).toBe('no-policy');
  });

  it('reports why: denied by a DENY policy, or not allowed by any ALLOW policy', () => {
    expect(authorize([policy({ name: 'd', action: 'DENY' })], server, base).reason).toBe('denied');
    expect(authorize([policy({ name: 'a', rules: [] })], server, base).reason).toBe('not-allowed');
    expect(authorize([policy({ name: 'a' })], server, base).reason).toBe('allowed');
  });

  it('is a pure function: the same inputs give the same answer, inputs untouched', () => {
    const policies = [allowFrom('a', { ipBlocks: ['10.244.1.0/24'] })];
    const frozen = structuredClone(policies);
    const first = authorize(policies, server, base);
    const second = authorize(policies, server, base);
    expect(second).toEqual(first);
    expect(policies).toEqual(frozen);
  });
});

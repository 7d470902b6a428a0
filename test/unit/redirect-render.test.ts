/**
 * Golden tests of both renderings of the one rule model. The golden files under golden/ were reviewed by
 * hand against the intent in model.ts; the integration suite proves that the tools print installed rules
 * back exactly like this (listing == rendering) and that the rules do what they say with real packets.
 * After a deliberate change, regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildCaptureRules, buildNodeProbeRules, CAPTURE_PORTS } from '../../src/redirect/model.ts';
import {
  parseIptablesSave,
  renderIptablesApply,
  renderIptablesRemove,
} from '../../src/redirect/render/iptables.ts';
import { renderNftApply, renderNftRemove, renderNftTable } from '../../src/redirect/render/nft.ts';
import { renderRoutesApply, renderRoutesRemove } from '../../src/redirect/render/policy-routes.ts';

function golden(name: string, actual: string): void {
  const file = new URL(`golden/${name}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const capture = buildCaptureRules();
const probes = buildNodeProbeRules(['10.244.1.0/24', '10.244.2.7', 'fd00:10:244::/64']);

describe('capture rules, nft', () => {
  it('renders the table', () => golden('capture.nft', renderNftTable(capture)));

  it('applies as one idempotent transaction: create, delete, define', () => {
    const script = renderNftApply(capture);
    expect(script.split('\n').slice(0, 2)).toEqual([
      'table inet ambit_capture',
      'delete table inet ambit_capture',
    ]);
    expect(script.endsWith(renderNftTable(capture))).toBe(true);
    expect(renderNftRemove(capture)).toBe('table inet ambit_capture\ndelete table inet ambit_capture\n');
  });
});

describe('capture rules, iptables', () => {
  it('renders IPv4 restore input', () =>
    golden('capture.iptables-v4', renderIptablesApply(capture, 4, new Set())));
  it('renders IPv6 restore input', () =>
    golden('capture.ip6tables-v6', renderIptablesApply(capture, 6, new Set())));

  it('does not add a jump that is already there', () => {
    const input = renderIptablesApply(capture, 4, new Set(['nat -A OUTPUT -j AMBIT_OUTPUT']));
    const [mangle, nat] = input.split('*nat');
    expect(nat).not.toMatch(/^-A OUTPUT -j AMBIT_OUTPUT$/m);
    expect(nat).toMatch(/^-A PREROUTING -j AMBIT_PRERT$/m);
    expect(mangle).toMatch(/^-A OUTPUT -j AMBIT_OUTPUT$/m);
  });

  it('removes every copy of our jumps and our chains, and nothing else', () => {
    const dump = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':AMBIT_OUTPUT - [0:0]',
      ':KUBE-SERVICES - [0:0]',
      '-A OUTPUT -j AMBIT_OUTPUT',
      '-A OUTPUT -j KUBE-SERVICES',
      '-A OUTPUT -j AMBIT_OUTPUT',
      '-A AMBIT_OUTPUT -p tcp -j REDIRECT --to-ports 15001',
      'COMMIT',
    ].join('\n');
    const state = parseIptablesSave(capture, dump);
    expect(renderIptablesRemove(capture, state)).toBe(
      [
        '*nat',
        '-D OUTPUT -j AMBIT_OUTPUT',
        '-D OUTPUT -j AMBIT_OUTPUT',
        '-F AMBIT_OUTPUT',
        '-X AMBIT_OUTPUT',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(
      renderIptablesRemove(capture, parseIptablesSave(capture, '*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n')),
    ).toBe(undefined);
  });
});

describe('capture rules, policy routes', () => {
  it('renders the reply route (fwmark 0x111 -> table 100, everything local)', () => {
    golden(
      'capture.routes',
      [...renderRoutesApply(capture), ...renderRoutesRemove(capture)].map((line) => line.command).join('\n') +
        '\n',
    );
  });
});

describe('the model', () => {
  it('captures to the architecture ports', () => {
    expect(CAPTURE_PORTS).toEqual({
      outbound: 15001,
      inboundPlaintext: 15006,
      inboundHbone: 15008,
      dns: 15053,
    });
  });

  it('keeps comments to plain words that both tools print back unchanged', () => {
    for (const rule of [...capture.rules, ...probes.rules])
      expect(rule.comment).toMatch(/^[\w ,:.()-]{1,100}$/);
  });

  it('gives every family-specific address match a family', () => {
    for (const rule of [...capture.rules, ...probes.rules]) {
      const hasAddress = rule.matches.some(
        (match) => match.kind === 'source' || match.kind === 'destination',
      );
      if (hasAddress) expect(rule.family).toBeDefined();
    }
  });
});

describe('node probe SNAT (Kubernetes only)', () => {
  it('renders nft', () => golden('node-probes.nft', renderNftTable(probes)));
  it('renders iptables', () =>
    golden(
      'node-probes.iptables',
      renderIptablesApply(probes, 4, new Set()) + renderIptablesApply(probes, 6, new Set()),
    ));

  it('leaves out a family without pod prefixes', () => {
    expect(buildNodeProbeRules(['10.244.1.0/24']).rules.map((rule) => rule.family)).toEqual([4]);
  });
});

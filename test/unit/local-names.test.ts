import { describe, expect, it } from 'vitest';
import {
  bounded,
  clusterNetnsPrefix,
  fabricNetns,
  fabricPortName,
  IFACE,
  nodeNetns,
  podNetns,
  podVethName,
  routeMetric,
} from '../../src/local/names.ts';

describe('names derived from the cluster name', () => {
  it('puts every namespace of a cluster under its own prefix', () => {
    expect(fabricNetns('demo')).toBe('ambit.demo.fabric');
    expect(nodeNetns('demo', 'node-1')).toBe('ambit.demo.node.node-1');
    expect(podNetns('demo', 'default', 'echo-0')).toBe('ambit.demo.pod.default.echo-0');
    for (const name of [fabricNetns('demo'), nodeNetns('demo', 'n'), podNetns('demo', 'ns', 'p')]) {
      expect(name.startsWith(clusterNetnsPrefix('demo'))).toBe(true);
    }
  });

  it('never lets one cluster’s names fall under another’s prefix', () => {
    // With "-" as the separator, cluster "a" node "b-fabric" and cluster "a-b" would collide; dots cannot.
    const names = [nodeNetns('a', 'b-fabric'), podNetns('a', 'b', 'fabric'), nodeNetns('a', 'node')];
    for (const name of names) expect(name.startsWith(clusterNetnsPrefix('a-b'))).toBe(false);
    expect(new Set([fabricNetns('a-b'), ...names]).size).toBe(4);
  });

  it('bounds long pod namespace names and keeps them unique', () => {
    const long = 'p'.repeat(250);
    const a = podNetns('demo', 'default', `${long}a`);
    const b = podNetns('demo', 'default', `${long}b`);
    expect(a.length).toBeLessThanOrEqual(120);
    expect(a).not.toBe(b);
    expect(a.startsWith('ambit.demo.pod.default.')).toBe(true);
    expect(bounded('short', 10)).toBe('short');
  });

  it('keeps interface names within 15 characters and stable per pod', () => {
    const veth = podVethName('default/echo-0');
    expect(veth).toMatch(/^veth[0-9a-f]{10}$/);
    expect(podVethName('default/echo-0')).toBe(veth);
    expect(podVethName('default/echo-1')).not.toBe(veth);
    for (const name of [veth, fabricPortName(999), ...Object.values(IFACE)]) {
      expect(name.length).toBeLessThanOrEqual(15);
    }
  });

  it('gives each cluster its own route metric in [2^30, 2^31)', () => {
    const metrics = ['a', 'b', 'demo', 'demo2'].map(routeMetric);
    expect(new Set(metrics).size).toBe(4);
    for (const metric of metrics) {
      expect(metric).toBeGreaterThanOrEqual(2 ** 30);
      expect(metric).toBeLessThan(2 ** 31);
    }
    expect(routeMetric('demo')).toBe(routeMetric('demo'));
  });
});

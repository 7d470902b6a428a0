/** Chaining ambit-cni into a node's CNI config (pure edits by table) and the files `ambit cni install` writes. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PluginEntry, primaryConfigFile, withoutPlugin, withPlugin } from '../../src/cni/conflist.ts';
import {
  type InstallPaths,
  installPlugin,
  KUBECONFIG_FILE,
  TOKEN_FILE,
  uninstallPlugin,
} from '../../src/cni/install.ts';
import { AmbitError } from '../../src/core/errors.ts';

const ENTRY: PluginEntry = {
  type: 'ambit-cni',
  enrollSocket: '/var/run/ambit/enroll.sock',
  kubeconfig: '/etc/cni/net.d/k',
};
const BRIDGE = { type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local' } };

describe('primaryConfigFile', () => {
  it.each([
    [['10-flannel.conflist', '99-loopback.conf'], '10-flannel.conflist'],
    [['20-b.conf', '10-a.json', 'README'], '10-a.json'],
    [['ambit-cni.kubeconfig', 'ambit-cni.token'], undefined],
    [['00-x.conf.bak', '05-calico.conflist'], '05-calico.conflist'],
  ])('%j -> %s', (names, expected) => {
    expect(primaryConfigFile(names, ['ambit-cni.kubeconfig', 'ambit-cni.token'])).toBe(expected);
  });
});

describe('withPlugin / withoutPlugin', () => {
  it('appends the entry to a conflist, after the primary plugins', () => {
    const list = { cniVersion: '1.0.0', name: 'k8s', plugins: [BRIDGE, { type: 'portmap' }] };
    expect(withPlugin('a.conflist', list, ENTRY).plugins).toEqual([BRIDGE, { type: 'portmap' }, ENTRY]);
  });

  it('replaces an entry of an earlier install instead of adding a second', () => {
    const list = { cniVersion: '1.0.0', name: 'k8s', plugins: [BRIDGE, { ...ENTRY, enrollSocket: '/old' }] };
    expect(withPlugin('a.conflist', list, ENTRY).plugins).toEqual([BRIDGE, ENTRY]);
  });

  it('wraps a single-plugin .conf into a list', () => {
    expect(withPlugin('a.conf', { cniVersion: '0.4.0', name: 'k8s', ...BRIDGE }, ENTRY)).toEqual({
      cniVersion: '0.4.0',
      name: 'k8s',
      plugins: [{ cniVersion: '0.4.0', name: 'k8s', ...BRIDGE }, ENTRY],
    });
  });

  it.each([
    ['not an object', [], /not a JSON object/],
    ['no name', { cniVersion: '1.0.0', plugins: [BRIDGE] }, /needs a name and a cniVersion/],
    ['only our own plugin', { cniVersion: '1.0.0', name: 'k8s', plugins: [ENTRY] }, /no primary plugin/],
  ])('refuses %s, naming the file', (_, config, message) => {
    expect(() => withPlugin('/etc/cni/net.d/10-x.conflist', config, ENTRY)).toThrow(message);
    expect(() => withPlugin('/etc/cni/net.d/10-x.conflist', config, ENTRY)).toThrow(/10-x\.conflist/);
  });

  it('takes the entry out again, leaving the rest as it was', () => {
    const list = { cniVersion: '1.0.0', name: 'k8s', plugins: [BRIDGE, ENTRY] };
    expect(withoutPlugin(list)).toEqual({ cniVersion: '1.0.0', name: 'k8s', plugins: [BRIDGE] });
    expect(withoutPlugin({ type: 'bridge' })).toEqual({ type: 'bridge' });
  });
});

describe("installPlugin / uninstallPlugin on a node's directories", () => {
  let root: string;
  let paths: InstallPaths;
  const source = () => {
    const dir = join(root, 'image');
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeFileSync(join(dir, 'bin', 'ambit-cni.mjs'), '// plugin\n');
    return { dir, version: '9.9.9' };
  };
  const credentials = { server: 'https://10.96.0.1:443', caPem: 'CA PEM\n', token: 'token-1' };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ambit-cni-install-'));
    paths = {
      binDir: join(root, 'bin'),
      confDir: join(root, 'net.d'),
      appDir: join(root, 'app'),
      hostAppDir: '/opt/ambit',
      hostConfDir: '/etc/cni/net.d',
      enrollSocket: '/var/run/ambit/enroll.sock',
    };
    for (const dir of [paths.binDir, paths.confDir, paths.appDir]) mkdirSync(dir);
    writeFileSync(
      join(paths.confDir, '10-bridge.conf'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'k8s', ...BRIDGE }),
    );
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('copies Ambit, writes the launcher, the kubeconfig and the token, and chains the plugin', () => {
    const conflist = installPlugin(paths, source(), credentials);
    expect(conflist).toBe(join(paths.confDir, '10-bridge.conflist'));
    expect(readdirSync(paths.confDir).sort()).toEqual(['10-bridge.conflist', KUBECONFIG_FILE, TOKEN_FILE]);
    const chained = JSON.parse(readFileSync(conflist, 'utf8')) as { plugins: Array<{ type: string }> };
    expect(chained.plugins.at(-1)).toEqual({
      type: 'ambit-cni',
      enrollSocket: '/var/run/ambit/enroll.sock',
      kubeconfig: '/etc/cni/net.d/ambit-cni.kubeconfig',
    });
    expect(readFileSync(join(paths.appDir, '9.9.9', 'bin', 'ambit-cni.mjs'), 'utf8')).toBe('// plugin\n');
    const launcher = join(paths.binDir, 'ambit-cni');
    expect(statSync(launcher).mode & 0o777).toBe(0o755);
    expect(readFileSync(launcher, 'utf8')).toContain(
      'exec /opt/ambit/9.9.9/node_modules/.bin/node /opt/ambit/9.9.9/bin/ambit-cni.mjs "$@"',
    );
    expect(statSync(join(paths.confDir, KUBECONFIG_FILE)).mode & 0o777).toBe(0o600);

    // The kubeconfig as the plugin loads it (token from the file, read as the plugin starts).
    const text = readFileSync(join(paths.confDir, KUBECONFIG_FILE), 'utf8').replaceAll(
      '/etc/cni/net.d',
      paths.confDir,
    );
    const config = new KubeConfig();
    config.loadFromString(text);
    expect(config.getCurrentCluster()?.server).toBe('https://10.96.0.1:443');
    expect(config.getCurrentUser()?.token).toBe('token-1');
  });

  it('is idempotent, and uninstall leaves the primary network as it was', () => {
    installPlugin(paths, source(), credentials);
    const conflist = installPlugin(paths, source(), credentials);
    const chained = JSON.parse(readFileSync(conflist, 'utf8')) as { plugins: Array<{ type: string }> };
    expect(chained.plugins.map((p) => p.type)).toEqual(['bridge', 'ambit-cni']);
    uninstallPlugin(paths);
    expect(readdirSync(paths.confDir)).toEqual(['10-bridge.conflist']);
    expect(readdirSync(paths.binDir)).toEqual([]);
    const left = JSON.parse(readFileSync(conflist, 'utf8')) as { plugins: Array<{ type: string }> };
    expect(left.plugins.map((p) => p.type)).toEqual(['bridge']);
  });

  it('refuses a node without a primary network yet', () => {
    rmSync(join(paths.confDir, '10-bridge.conf'));
    expect(() => installPlugin(paths, source(), credentials)).toThrow(AmbitError);
    expect(() => installPlugin(paths, source(), credentials)).toThrow(/no CNI network config/);
  });
});

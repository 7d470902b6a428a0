/**
 * `ambit install` and `ambit uninstall` through the Kubernetes API, as a user runs them (the CLI with a
 * kubeconfig), against the in-test API server (HTTPS, discovery, create/replace/delete): every rendered
 * object lands as rendered, the mesh CA is created once and kept by later installs, a drifted object is put
 * back, and uninstall removes everything (and is idempotent). The server checks neither RBAC nor admission:
 * this proves the requests, not that a real cluster accepts them (kube-manifests.test.ts validates schemas).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderManifests } from '../../src/kube/manifests/render.ts';
import { defaultSettings, NAMES } from '../../src/kube/manifests/settings.ts';
import { ambit } from '../support/cli.ts';
import {
  CORE_RESOURCES,
  INSTALL_RESOURCES,
  KubeApiServer,
  type KubeObject,
} from '../support/kube-api-server.ts';

const NS = `ambit-it-${process.pid}`;

describe('ambit install / uninstall against an API server', () => {
  let api: KubeApiServer;
  let dir: string;
  let kubeconfig: string;
  const expected = renderManifests({ ...defaultSettings('0.1.0'), namespace: NS });
  /** Where each rendered object lives in the API (prefix, plural) by kind. */
  const where = (kind: string) => {
    const type = [...CORE_RESOURCES, ...INSTALL_RESOURCES].find((t) => t.kind === kind)!;
    return [type.prefix, type.plural] as const;
  };
  const stored = (kind: string, name: string, namespace?: string): KubeObject | undefined =>
    api.get(...where(kind), namespace, name);
  const run = (command: string) => ambit([command, '--kubeconfig', kubeconfig, '--namespace', NS]);

  beforeAll(async () => {
    api = await new KubeApiServer([...CORE_RESOURCES, ...INSTALL_RESOURCES]).listen();
    dir = mkdtempSync(join(tmpdir(), 'ambit-install-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeconfig());
  });

  afterAll(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates every object as rendered, and the mesh CA', async () => {
    const result = await run('install');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(expected.length + 2);
    for (const object of expected) {
      const live = stored(object.kind, object.metadata.name, object.metadata.namespace);
      expect(live, `${object.kind} ${object.metadata.name}`).toBeDefined();
      const { uid: _uid, resourceVersion: _rv, generation: _generation, ...metadata } = live!.metadata;
      // What the API server adds: a Service's cluster IP, from its allocator.
      const { clusterIP, clusterIPs, ...spec } = (live!.spec ?? {}) as Record<string, unknown>;
      if (object.kind === 'Service') expect(clusterIPs).toEqual([clusterIP]);
      const rendered = object.kind === 'Service' ? { ...live, metadata, spec } : { ...live, metadata };
      expect(rendered).toEqual(object);
    }
    const secret = stored('Secret', NAMES.caSecret, NS) as {
      stringData: Record<string, string>;
    } & KubeObject;
    const root = new X509Certificate(secret.stringData['ca-cert.pem']!);
    expect(root.ca).toBe(true);
    expect(
      root.checkPrivateKey(
        await import('node:crypto').then((c) => c.createPrivateKey(secret.stringData['ca-key.pem']!)),
      ),
    ).toBe(true);
    const configMap = stored('ConfigMap', NAMES.rootConfigMap, NS) as {
      data: Record<string, string>;
    } & KubeObject;
    expect(configMap.data['root-cert.pem']).toBe(secret.stringData['ca-cert.pem']);
  });

  it('a second install replaces what drifted and keeps the CA', async () => {
    const before = stored('Secret', NAMES.caSecret, NS)!;
    const service = stored('Service', NAMES.control, NS)!;
    const ztunnel = stored('DaemonSet', NAMES.ztunnel, NS)!;
    api.put(...where('DaemonSet'), { ...ztunnel, spec: { hacked: true } });
    const result = await run('install');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Secret ${NS}/${NAMES.caSecret} kept`);
    expect(result.stdout).toContain(`DaemonSet ${NS}/${NAMES.ztunnel} configured`);
    expect(stored('Secret', NAMES.caSecret, NS)!.metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );
    // The Service is replaced with the cluster IP it was given (immutable: the server refuses a change).
    expect(stored('Service', NAMES.control, NS)!.spec).toEqual(service.spec);
    expect(stored('DaemonSet', NAMES.ztunnel, NS)!.spec).toEqual(
      expected.find((o) => o.metadata.name === NAMES.ztunnel && o.kind === 'DaemonSet')!.spec,
    );
  });

  it('uninstall removes everything, and a second one finds nothing left', async () => {
    const result = await run('uninstall');
    expect(result.code).toBe(0);
    for (const object of expected)
      expect(stored(object.kind, object.metadata.name, object.metadata.namespace)).toBeUndefined();
    expect(stored('Secret', NAMES.caSecret, NS)).toBeUndefined();
    const again = await run('uninstall');
    expect(again.code).toBe(0);
    expect(
      again.stdout
        .trim()
        .split('\n')
        .every((line) => line.endsWith(' absent')),
    ).toBe(true);
  });

  it('an unreachable API fails install with the object it could not write', async () => {
    const unreachable = join(dir, 'unreachable');
    writeFileSync(unreachable, api.kubeconfig().replace(`:${api.port}`, ':1'));
    const result = await ambit(['install', '--kubeconfig', unreachable, '--namespace', NS]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(new RegExp(`reading Namespace ${NS} failed`));
  });
});

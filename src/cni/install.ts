/**
 * What the CNI node DaemonSet does on each node (`ambit cni install`): puts a copy of Ambit (with its pinned
 * Node.js) on the host under a directory per version, writes the `ambit-cni` launcher into the host's CNI
 * bin directory, writes the plugin's kubeconfig (the DaemonSet's service account; its token is copied next
 * to it and refreshed, since projected tokens expire), and chains the plugin into the primary conflist.
 * Every file is written to a temporary name and renamed, so a runtime never reads half of one.
 */
import {
  chmodSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../core/errors.ts';
import { PLUGIN_TYPE, primaryConfigFile, withoutPlugin, withPlugin } from './conflist.ts';

export interface InstallPaths {
  /** As this container sees them (hostPath mounts). */
  binDir: string;
  confDir: string;
  appDir: string;
  /** As the host (the runtime running the plugin) sees them. */
  hostAppDir: string;
  hostConfDir: string;
  enrollSocket: string;
}

export interface ServiceAccountCredentials {
  server: string;
  caPem: string;
  token: string;
}

export const KUBECONFIG_FILE = 'ambit-cni.kubeconfig';
export const TOKEN_FILE = 'ambit-cni.token';
const OWN_FILES = [KUBECONFIG_FILE, TOKEN_FILE];

function writeAtomic(path: string, content: string, mode: number): void {
  const temporary = `${path}.ambit-tmp`;
  writeFileSync(temporary, content, { mode });
  chmodSync(temporary, mode);
  renameSync(temporary, path);
}

/** The pod's own service account, for the plugin's kubeconfig. */
export function inClusterCredentials(
  env: NodeJS.ProcessEnv = process.env,
  dir = '/var/run/secrets/kubernetes.io/serviceaccount',
): ServiceAccountCredentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new AmbitError('USAGE', 'KUBERNETES_SERVICE_HOST is not set: run this in a pod');
  const server = host.includes(':') ? `https://[${host}]:${port}` : `https://${host}:${port}`;
  return {
    server,
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    token: readFileSync(join(dir, 'token'), 'utf8'),
  };
}

/** Copies the (current) token to the host, where the plugin's kubeconfig points. Call it again to refresh. */
export function writeToken(paths: InstallPaths, token: string): void {
  writeAtomic(join(paths.confDir, TOKEN_FILE), token, 0o600);
}

function kubeconfig(paths: InstallPaths, credentials: ServiceAccountCredentials): string {
  const tokenPath = join(paths.hostConfDir, TOKEN_FILE);
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'local',
          cluster: {
            server: credentials.server,
            'certificate-authority-data': Buffer.from(credentials.caPem).toString('base64'),
          },
        },
      ],
      // `tokenFile` is Kubernetes' field; @kubernetes/client-node (the plugin's client) reads `token-file`.
      users: [{ name: 'ambit-cni', user: { tokenFile: tokenPath, 'token-file': tokenPath } }],
      contexts: [{ name: 'ambit-cni', context: { cluster: 'local', user: 'ambit-cni' } }],
      'current-context': 'ambit-cni',
    },
    null,
    2,
  )}\n`;
}

function primaryConfig(paths: InstallPaths): { file: string; config: unknown } {
  const name = primaryConfigFile(readdirSync(paths.confDir), OWN_FILES);
  if (!name) {
    throw new AmbitError(
      'NOT_FOUND',
      `no CNI network config in ${paths.confDir} yet: is the primary CNI installed?`,
    );
  }
  const file = join(paths.confDir, name);
  try {
    return { file, config: JSON.parse(readFileSync(file, 'utf8')) };
  } catch (error) {
    throw new AmbitError('CONFIG_INVALID', `${file}: ${errorMessage(error)}`);
  }
}

/** Installs everything; returns the conflist it chained into. Idempotent. */
export function installPlugin(
  paths: InstallPaths,
  source: { dir: string; version: string },
  credentials: ServiceAccountCredentials,
): string {
  const release = join(paths.appDir, source.version);
  const staging = `${release}.ambit-tmp`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(source.dir, staging, { recursive: true, dereference: false });
  rmSync(release, { recursive: true, force: true });
  renameSync(staging, release);
  const hostRelease = join(paths.hostAppDir, source.version);
  writeAtomic(
    join(paths.binDir, PLUGIN_TYPE),
    `#!/bin/sh\n# Written by ambit cni install: runs ambit-cni ${source.version} with its pinned Node.js.\nexec ${hostRelease}/node_modules/.bin/node ${hostRelease}/bin/ambit-cni.mjs "$@"\n`,
    0o755,
  );
  writeToken(paths, credentials.token);
  writeAtomic(join(paths.confDir, KUBECONFIG_FILE), kubeconfig(paths, credentials), 0o600);
  const { file, config } = primaryConfig(paths);
  const chained = withPlugin(file, config, {
    type: PLUGIN_TYPE,
    enrollSocket: paths.enrollSocket,
    kubeconfig: join(paths.hostConfDir, KUBECONFIG_FILE),
  });
  const target = file.endsWith('.conflist') ? file : file.replace(/\.(conf|json)$/, '.conflist');
  writeAtomic(target, `${JSON.stringify(chained, null, 2)}\n`, 0o644);
  if (target !== file) rmSync(file);
  return target;
}

/** Takes the plugin out of the conflist, then removes its launcher and credentials. */
export function uninstallPlugin(paths: InstallPaths): void {
  if (existsSync(paths.confDir)) {
    const name = primaryConfigFile(readdirSync(paths.confDir), OWN_FILES);
    if (name) {
      const file = join(paths.confDir, name);
      writeAtomic(
        file,
        `${JSON.stringify(withoutPlugin(JSON.parse(readFileSync(file, 'utf8'))), null, 2)}\n`,
        0o644,
      );
    }
  }
  for (const file of [join(paths.binDir, PLUGIN_TYPE), ...OWN_FILES.map((own) => join(paths.confDir, own))]) {
    rmSync(file, { force: true });
  }
}

/**
 * Node credentials for a local cluster: one random bearer token per node, in `<state>/nodes/<node>.token`
 * (mode 0600, directory 0700). `ambit local up` creates one per node and hands the file to that node's
 * ztunnel; the control plane authenticates a caller by its token and learns which node it is, which bounds
 * the certificates it may obtain (node authorization). Root-only files on one machine are the trust boundary,
 * as a kubelet's credentials are on a Kubernetes node.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { controlPaths, nodeTokenFile } from './control-api/paths.ts';
import { AmbitError } from './errors.ts';

/** Node names as Kubernetes allows them (DNS-1123 subdomain), which also keeps them safe as file names. */
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface NodeCredential {
  node: string;
  tokenFile: string;
  token: string;
}

export function checkNodeName(node: string): void {
  if (!NODE_NAME.test(node) || node.includes('..')) {
    throw new AmbitError(
      'USAGE',
      `invalid node name ${JSON.stringify(node)}: use lowercase alphanumerics, - and .`,
    );
  }
}

/** Creates the node's credential, or returns the existing one (idempotent, so `up` can be rerun). */
export function createNodeCredential(stateDir: string, node: string): NodeCredential {
  checkNodeName(node);
  mkdirSync(controlPaths(stateDir).nodeTokens, { recursive: true, mode: 0o700 });
  const tokenFile = nodeTokenFile(stateDir, node);
  try {
    writeFileSync(tokenFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return { node, tokenFile, token: readNodeToken(tokenFile) };
}

export function removeNodeCredential(stateDir: string, node: string): void {
  checkNodeName(node);
  rmSync(nodeTokenFile(stateDir, node), { force: true });
}

export function readNodeToken(tokenFile: string): string {
  const token = readFileSync(tokenFile, 'utf8').trim();
  if (token === '') throw new AmbitError('UNAUTHENTICATED', `${tokenFile} is empty`);
  return token;
}

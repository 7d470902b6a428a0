/**
 * The join bundle: what a host that does not run the control plane needs from the host that does, as one
 * base64url string (`ambit local join-bundle` prints it; `ambit local up --join FILE` reads it). It holds the
 * mesh root (its ztunnels trust the control plane with it), the node gateway's address and certificate, and the bearer token of each node the joining host runs. The tokens are credentials:
 * move the bundle as you would an SSH key (root-only file, copied over SSH).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { controlPaths, nodeTokenFile } from '../../core/control-api/paths.ts';
import { AmbitError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { checkNodeName, readNodeToken } from '../../core/node-credentials.ts';
import { controlPlaneStateDir } from '../mesh/control-plane.ts';
import type { ClusterState } from '../types.ts';
import { gatewayCredentialFiles } from './gateway-credential.ts';
import { nodeGatewayAddress } from './span.ts';

export interface JoinBundle {
  version: 1;
  cluster: string;
  /** The node gateway, `ip:port` on the first node's underlay address. */
  gateway: string;
  rootCertPem: string;
  /** The node gateway's self-signed certificate: the joining host trusts it alone for the gateway. */
  gatewayCertPem: string;
  /** node name -> bearer token, for the nodes the joining host runs. */
  nodeTokens: Record<string, string>;
}

/** The bundle for a host that will run `nodes`, from the control plane host's state. */
export function makeJoinBundle(cluster: ClusterState, nodes: readonly string[]): JoinBundle {
  const dir = controlPlaneStateDir(cluster);
  const known = new Set(cluster.nodes.map((node) => node.name));
  const nodeTokens: Record<string, string> = {};
  for (const node of nodes) {
    if (!known.has(node)) throw new AmbitError('USAGE', `cluster ${cluster.name} has no node ${node}`);
    if (node === cluster.nodes[0]!.name) {
      throw new AmbitError('USAGE', `${node} runs the control plane: it stays on this host`);
    }
    nodeTokens[node] = readNodeToken(nodeTokenFile(dir, node));
  }
  return {
    version: 1,
    cluster: cluster.name,
    gateway: nodeGatewayAddress(cluster),
    rootCertPem: readFileSync(controlPaths(dir).rootCert, 'utf8'),
    gatewayCertPem: readFileSync(gatewayCredentialFiles(cluster).certFile, 'utf8'),
    nodeTokens,
  };
}

function isPem(value: unknown): boolean {
  return typeof value === 'string' && value.includes('-----BEGIN CERTIFICATE-----');
}

export function encodeJoinBundle(bundle: JoinBundle): string {
  return Buffer.from(JSON.stringify(bundle)).toString('base64url');
}

/** Parses and checks a bundle; the error says what is wrong with it, never what it holds. */
export function parseJoinBundle(text: string): JoinBundle {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text.trim(), 'base64url').toString('utf8'));
  } catch {
    throw new AmbitError('USAGE', 'the join bundle is not what `ambit local join-bundle` prints');
  }
  const bundle = value as Partial<JoinBundle> | null;
  const problem =
    bundle === null || typeof bundle !== 'object'
      ? 'not an object'
      : bundle.version !== 1
        ? 'unknown version'
        : typeof bundle.cluster !== 'string'
          ? 'no cluster'
          : typeof bundle.gateway !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(bundle.gateway)
            ? 'no gateway address'
            : !isPem(bundle.rootCertPem)
              ? 'no root certificate'
              : !isPem(bundle.gatewayCertPem)
                ? 'no gateway certificate'
                : typeof bundle.nodeTokens !== 'object' ||
                    bundle.nodeTokens === null ||
                    Object.values(bundle.nodeTokens).some(
                      (token) => typeof token !== 'string' || token === '',
                    )
                  ? 'no node tokens'
                  : undefined;
  if (problem) throw new AmbitError('USAGE', `the join bundle is invalid: ${problem}`);
  for (const node of Object.keys(bundle!.nodeTokens!)) checkNodeName(node);
  return bundle as JoinBundle;
}

/**
 * Writes the bundle where the cluster's node agents look (`control/ca/root-cert.pem`, `control/nodes/<n>.token`),
 * as the control plane host's `up` does for its own nodes; every local node must have its token.
 */
export function installJoinBundle(cluster: ClusterState, bundle: JoinBundle, nodes: readonly string[]): void {
  if (bundle.cluster !== cluster.name) {
    throw new AmbitError('USAGE', `the join bundle is for cluster ${bundle.cluster}, not ${cluster.name}`);
  }
  const missing = nodes.filter((node) => bundle.nodeTokens[node] === undefined);
  if (missing.length > 0) {
    throw new AmbitError('USAGE', `the join bundle has no token for ${missing.join(', ')}`);
  }
  const paths = controlPaths(controlPlaneStateDir(cluster));
  mkdirSync(dirname(paths.rootCert), { recursive: true, mode: 0o700 });
  writeFileAtomic(paths.rootCert, bundle.rootCertPem, 0o644);
  const gateway = gatewayCredentialFiles(cluster);
  mkdirSync(dirname(gateway.certFile), { recursive: true, mode: 0o700 });
  writeFileAtomic(gateway.certFile, bundle.gatewayCertPem, 0o644);
  mkdirSync(paths.nodeTokens, { recursive: true, mode: 0o700 });
  for (const node of nodes) {
    writeFileAtomic(nodeTokenFile(paths.root, node), `${bundle.nodeTokens[node]}\n`, 0o600);
  }
}

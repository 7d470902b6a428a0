/**
 * One plugin invocation as the runtime made it: the `CNI_*` environment and the network configuration on
 * stdin, checked and turned into a typed request. Pure, so every refusal is a table test; each refusal
 * names the variable or the config field and carries the spec's error code.
 */
import { isIP } from 'node:net';
import { isPlainObject } from '../core/config/field.ts';
import { errorMessage } from '../core/errors.ts';
import type { BackendChoice } from '../redirect/backend/types.ts';
import { parseBackendChoice } from '../redirect/rules.ts';
import {
  CHECK_SINCE,
  CNI_COMMANDS,
  CNI_ERROR,
  type CniCommand,
  CniError,
  type CniResult,
  compareVersions,
  SUPPORTED_VERSIONS,
} from './spec.ts';

/** Where the node agent listens on a Kubernetes node (the DaemonSet's hostPath `/var/run/ambit`). */
export const DEFAULT_ENROLL_SOCKET = '/var/run/ambit/enroll.sock';
/** Namespaces never enrolled, whatever their labels say (the cluster's own machinery). */
export const DEFAULT_EXCLUDED_NAMESPACES = ['kube-system'];
/** How long ADD waits for the node agent's answer; the ztunnel itself waits up to 5 s for the workload. */
export const DEFAULT_ENROLL_TIMEOUT_MS = 15_000;
/** Longest config accepted on stdin: a conflist entry with a prevResult is a few KiB. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** The plugin's own fields in its conflist entry, with their defaults applied. */
export interface PluginConfig {
  cniVersion: string;
  name: string;
  enrollSocket: string;
  /** Kubeconfig the plugin reads pods and namespaces with (the node agent's service account). */
  kubeconfig: string | undefined;
  excludeNamespaces: string[];
  enrollTimeoutMs: number;
  /** The rule backend CHECK lists the pod's capture with: the node agent's (`auto` by default). */
  backend: BackendChoice;
  prevResult: CniResult | undefined;
}

/** The Kubernetes identity of the pod, from `CNI_ARGS` (kubelet's CRI runtimes set these). */
export interface PodRef {
  namespace: string;
  name: string;
  uid: string | undefined;
}

export type CniRequest =
  | { command: 'VERSION'; cniVersion: string }
  | {
      command: Exclude<CniCommand, 'VERSION'>;
      containerId: string;
      /** Absent only on DEL, where the spec lets the runtime omit a netns that is already gone. */
      netns: string | undefined;
      ifname: string;
      pod: PodRef | undefined;
      config: PluginConfig;
    };

type Env = Readonly<Record<string, string | undefined>>;

const envError = (message: string) => new CniError(CNI_ERROR.invalidEnvironment, message);
const configError = (message: string) => new CniError(CNI_ERROR.invalidConfig, message);

/** `CNI_ARGS`: `KEY=VALUE` pairs separated by `;` (the spec's only encoding). */
export function parseCniArgs(value: string | undefined): Map<string, string> {
  const args = new Map<string, string>();
  if (!value) return args;
  for (const pair of value.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw envError(`CNI_ARGS: ${JSON.stringify(pair)} is not KEY=VALUE`);
    args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return args;
}

function podRef(args: Map<string, string>): PodRef | undefined {
  const namespace = args.get('K8S_POD_NAMESPACE');
  const name = args.get('K8S_POD_NAME');
  if (!namespace || !name) return undefined;
  return { namespace, name, uid: args.get('K8S_POD_UID') || undefined };
}

function decodeConfig(stdin: string): Record<string, unknown> {
  if (Buffer.byteLength(stdin) > MAX_CONFIG_BYTES) {
    throw new CniError(CNI_ERROR.decodeFailure, `network config longer than ${MAX_CONFIG_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch (error) {
    throw new CniError(
      CNI_ERROR.decodeFailure,
      `network config on stdin is not JSON: ${(error as Error).message}`,
    );
  }
  if (!isPlainObject(value))
    throw new CniError(CNI_ERROR.decodeFailure, 'network config must be a JSON object');
  return value;
}

function cniVersionOf(config: Record<string, unknown>): string {
  const version = config.cniVersion;
  if (typeof version !== 'string' || version === '') throw configError('cniVersion: required string');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      CNI_ERROR.incompatibleVersion,
      `cniVersion ${version} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`,
    );
  }
  return version;
}

function optionalString(config: Record<string, unknown>, field: string): string | undefined {
  const value = config[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw configError(`${field}: expected a non-empty string`);
  return value;
}

function absolutePath(config: Record<string, unknown>, field: string): string | undefined {
  const value = optionalString(config, field);
  if (value !== undefined && !value.startsWith('/')) throw configError(`${field}: must be an absolute path`);
  return value;
}

function prevResultOf(config: Record<string, unknown>): CniResult | undefined {
  const prev = config.prevResult;
  if (prev === undefined) return undefined;
  if (!isPlainObject(prev)) throw configError('prevResult: expected an object');
  const ips = prev.ips;
  if (ips !== undefined) {
    if (!Array.isArray(ips)) throw configError('prevResult.ips: expected a list');
    ips.forEach((ip, i) => {
      const address = isPlainObject(ip) ? ip.address : undefined;
      const [host, prefix] = typeof address === 'string' ? address.split('/') : [];
      if (host === undefined || isIP(host) === 0 || prefix === undefined || !/^\d{1,3}$/.test(prefix)) {
        throw configError(`prevResult.ips[${i}].address: expected an address in CIDR form (10.0.0.2/24)`);
      }
    });
  }
  return { ...prev, cniVersion: typeof prev.cniVersion === 'string' ? prev.cniVersion : '' } as CniResult;
}

function pluginConfig(config: Record<string, unknown>, cniVersion: string): PluginConfig {
  const name = optionalString(config, 'name');
  if (name === undefined) throw configError('name: required string');
  const exclude = config.excludeNamespaces;
  if (exclude !== undefined && (!Array.isArray(exclude) || exclude.some((ns) => typeof ns !== 'string'))) {
    throw configError('excludeNamespaces: expected a list of namespace names');
  }
  const timeout = config.enrollTimeoutMs;
  if (
    timeout !== undefined &&
    (!Number.isInteger(timeout) || (timeout as number) < 100 || (timeout as number) > 120_000)
  ) {
    throw configError('enrollTimeoutMs: expected an integer from 100 to 120000');
  }
  const backend = optionalString(config, 'backend') ?? 'auto';
  try {
    parseBackendChoice(backend, 'backend');
  } catch (error) {
    throw configError(errorMessage(error));
  }
  return {
    cniVersion,
    name,
    backend: backend as BackendChoice,
    enrollSocket: absolutePath(config, 'enrollSocket') ?? DEFAULT_ENROLL_SOCKET,
    kubeconfig: absolutePath(config, 'kubeconfig'),
    excludeNamespaces: (exclude as string[] | undefined) ?? DEFAULT_EXCLUDED_NAMESPACES,
    enrollTimeoutMs: (timeout as number | undefined) ?? DEFAULT_ENROLL_TIMEOUT_MS,
    prevResult: prevResultOf(config),
  };
}

/** Reads one invocation; throws a CniError (with the spec's code) for anything a runtime should not send. */
export function parseRequest(env: Env, stdin: string): CniRequest {
  const command = env.CNI_COMMAND;
  if (!command) throw envError('CNI_COMMAND is not set');
  if (!(CNI_COMMANDS as readonly string[]).includes(command)) {
    throw envError(`CNI_COMMAND ${JSON.stringify(command)} is not one of ${CNI_COMMANDS.join(', ')}`);
  }
  const config = decodeConfig(stdin);
  // VERSION is how a runtime learns what we speak: it answers whatever version the runtime named.
  if (command === 'VERSION' && typeof config.cniVersion === 'string') {
    return { command, cniVersion: config.cniVersion };
  }
  const cniVersion = cniVersionOf(config);
  if (command === 'VERSION') return { command, cniVersion };
  const checked = command as Exclude<CniCommand, 'VERSION'>;
  if (checked === 'CHECK' && compareVersions(cniVersion, CHECK_SINCE) < 0) {
    throw new CniError(
      CNI_ERROR.incompatibleVersion,
      `CHECK needs cniVersion ${CHECK_SINCE} or later, got ${cniVersion}`,
    );
  }
  const containerId = env.CNI_CONTAINERID;
  if (!containerId) throw envError('CNI_CONTAINERID is not set');
  const ifname = env.CNI_IFNAME;
  if (!ifname) throw envError('CNI_IFNAME is not set');
  const netns = env.CNI_NETNS || undefined;
  if (netns === undefined && checked !== 'DEL') throw envError(`CNI_NETNS is required for ${checked}`);
  if (netns !== undefined && !netns.startsWith('/')) throw envError('CNI_NETNS must be an absolute path');
  const plugin = pluginConfig(config, cniVersion);
  if (checked !== 'DEL' && plugin.prevResult === undefined) {
    throw configError(`prevResult: required for ${checked}; ambit-cni is chained after the primary plugin`);
  }
  return {
    command: checked,
    containerId,
    netns,
    ifname,
    pod: podRef(parseCniArgs(env.CNI_ARGS)),
    config: plugin,
  };
}

/** The pod's addresses as the primary plugin assigned them (CIDR suffix dropped). */
export function podIps(result: CniResult | undefined): string[] {
  return (result?.ips ?? []).map((ip) => ip.address.split('/')[0]!);
}

/**
 * A container runtime's CNI side, as libcni does it for a conflist: each plugin is exec'd from CNI_PATH by
 * its `type`, with the CNI_* variables set and, on stdin, its own entry plus the list's `name` and
 * `cniVersion` (and, from the second plugin on, `prevResult`, the previous plugin's output). ADD and CHECK
 * run the plugins in order, DEL in reverse with the cached ADD result as prevResult. The plugins run inside
 * the test's "node" namespace (where a runtime would run them: on the host), so whatever they create
 * stays in namespaces the test made.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { endStdin } from '../../src/core/sys/child-stdin.ts';

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<{ type: string; [field: string]: unknown }>;
}

export interface PodSandbox {
  containerId: string;
  netnsPath: string;
  ifname: string;
  namespace: string;
  name: string;
  uid: string;
}

export interface PluginRun {
  type: string;
  code: number;
  stdout: string;
  stderr: string;
}

/** A failed chain: the plugin that failed and its error object (the spec's `{code, msg, details}`). */
export class ChainError extends Error {
  readonly run: PluginRun;
  readonly body: { code: number; msg: string; details?: string };

  constructor(run: PluginRun) {
    let body: ChainError['body'];
    try {
      body = JSON.parse(run.stdout) as ChainError['body'];
    } catch {
      body = { code: -1, msg: `unparseable output: ${run.stdout}${run.stderr}` };
    }
    super(`${run.type} failed: [${body.code}] ${body.msg}${body.details ? ` (${body.details})` : ''}`);
    this.run = run;
    this.body = body;
  }
}

export class CniRuntime {
  readonly #nodeNetns: string;
  readonly #cniPath: string;
  readonly #conflist: Conflist;
  /** The ADD result per container, as libcni caches it for DEL and CHECK. */
  readonly #cache = new Map<string, unknown>();

  constructor(options: { nodeNetns: string; cniPath: string; conflist: Conflist }) {
    this.#nodeNetns = options.nodeNetns;
    this.#cniPath = options.cniPath;
    this.#conflist = options.conflist;
  }

  exec(type: string, env: Record<string, string>, stdin: string): Promise<PluginRun> {
    return new Promise((resolve) => {
      const child = execFile(
        'ip',
        ['netns', 'exec', this.#nodeNetns, join(this.#cniPath, type)],
        { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ type, code, stdout, stderr });
        },
      );
      endStdin(child, stdin);
    });
  }

  #env(command: string, sandbox: PodSandbox): Record<string, string> {
    return {
      CNI_COMMAND: command,
      CNI_CONTAINERID: sandbox.containerId,
      CNI_NETNS: sandbox.netnsPath,
      CNI_IFNAME: sandbox.ifname,
      CNI_PATH: this.#cniPath,
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${sandbox.namespace};K8S_POD_NAME=${sandbox.name};K8S_POD_INFRA_CONTAINER_ID=${sandbox.containerId};K8S_POD_UID=${sandbox.uid}`,
    };
  }

  #stdin(plugin: Conflist['plugins'][number], prevResult: unknown): string {
    const config: Record<string, unknown> = {
      ...plugin,
      name: this.#conflist.name,
      cniVersion: this.#conflist.cniVersion,
    };
    if (prevResult !== undefined) config.prevResult = prevResult;
    return JSON.stringify(config);
  }

  /**
   * The sandbox's loopback, as containerd and CRI-O bring it up: the reference `loopback` plugin, as a
   * network of its own before the pod's conflist.
   */
  async #loopback(command: 'ADD' | 'DEL', sandbox: PodSandbox): Promise<PluginRun> {
    const config = { cniVersion: this.#conflist.cniVersion, name: 'cni-loopback', type: 'loopback' };
    return this.exec(
      'loopback',
      { ...this.#env(command, sandbox), CNI_IFNAME: 'lo' },
      JSON.stringify(config),
    );
  }

  /** ADD through the whole list; resolves with the final result, rejects with the first failure. */
  async add(sandbox: PodSandbox): Promise<{ ips: Array<{ address: string }>; [field: string]: unknown }> {
    const lo = await this.#loopback('ADD', sandbox);
    if (lo.code !== 0) throw new ChainError(lo);
    let result: unknown;
    for (const plugin of this.#conflist.plugins) {
      const run = await this.exec(plugin.type, this.#env('ADD', sandbox), this.#stdin(plugin, result));
      if (run.code !== 0) throw new ChainError(run);
      result = JSON.parse(run.stdout);
    }
    this.#cache.set(sandbox.containerId, result);
    return result as { ips: Array<{ address: string }> };
  }

  /** DEL through the list in reverse (after a failed ADD too, as a runtime cleans up); every plugin runs. */
  async del(sandbox: PodSandbox): Promise<PluginRun[]> {
    const prev = this.#cache.get(sandbox.containerId);
    const failed: PluginRun[] = [];
    for (const plugin of [...this.#conflist.plugins].reverse()) {
      const run = await this.exec(plugin.type, this.#env('DEL', sandbox), this.#stdin(plugin, prev));
      if (run.code !== 0) failed.push(run);
    }
    const lo = await this.#loopback('DEL', sandbox);
    if (lo.code !== 0) failed.push(lo);
    if (failed.length === 0) this.#cache.delete(sandbox.containerId);
    return failed;
  }

  /** CHECK through the list with the cached result; rejects with the first failure. */
  async check(sandbox: PodSandbox): Promise<void> {
    const prev = this.#cache.get(sandbox.containerId);
    for (const plugin of this.#conflist.plugins) {
      const run = await this.exec(plugin.type, this.#env('CHECK', sandbox), this.#stdin(plugin, prev));
      if (run.code !== 0) throw new ChainError(run);
    }
  }

  async version(type: string): Promise<unknown> {
    const run = await this.exec(
      type,
      { CNI_COMMAND: 'VERSION' },
      JSON.stringify({ cniVersion: this.#conflist.cniVersion }),
    );
    if (run.code !== 0) throw new ChainError(run);
    return JSON.parse(run.stdout);
  }
}

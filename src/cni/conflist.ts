/**
 * The host's CNI config, edited as istio-cni edits it: the primary network is the first config file of the
 * directory in lexical order (what kubelet's runtime picks); ambit-cni is appended to its plugin list (a
 * single-plugin `.conf` becomes a `.conflist` first), replacing an entry of ours from an earlier install, and
 * taken out again on uninstall. Pure functions over the parsed JSON; install.ts does the files.
 */
import { isPlainObject } from '../core/config/field.ts';
import { AmbitError } from '../core/errors.ts';

export const PLUGIN_TYPE = 'ambit-cni';

export interface PluginEntry {
  type: typeof PLUGIN_TYPE;
  enrollSocket: string;
  kubeconfig: string;
  [field: string]: unknown;
}

/** The file holding the primary network: the first `.conflist`/`.conf`/`.json` by name, none of ours. */
export function primaryConfigFile(
  names: readonly string[],
  ownFiles: readonly string[] = [],
): string | undefined {
  return [...names]
    .filter((name) => /\.(conflist|conf|json)$/.test(name) && !ownFiles.includes(name))
    .sort()
    .at(0);
}

function invalid(file: string, message: string): AmbitError {
  return new AmbitError('CONFIG_INVALID', `${file}: ${message}`);
}

/** The config with our entry last in its plugin list (a `.conf` is wrapped into a list of one). */
export function withPlugin(file: string, config: unknown, entry: PluginEntry): Record<string, unknown> {
  if (!isPlainObject(config)) throw invalid(file, 'not a JSON object');
  const list = Array.isArray(config.plugins)
    ? config
    : { cniVersion: config.cniVersion, name: config.name, plugins: [config] };
  if (typeof list.name !== 'string' || typeof list.cniVersion !== 'string') {
    throw invalid(file, 'a CNI network config needs a name and a cniVersion');
  }
  const plugins = (list.plugins as unknown[]).filter((plugin) => !isOurs(plugin));
  if (plugins.length === 0) throw invalid(file, 'no primary plugin to chain after');
  return { ...list, plugins: [...plugins, entry] };
}

/** The config without our entry (unchanged when it has none). */
export function withoutPlugin(config: unknown): unknown {
  if (!isPlainObject(config) || !Array.isArray(config.plugins)) return config;
  return { ...config, plugins: config.plugins.filter((plugin) => !isOurs(plugin)) };
}

function isOurs(plugin: unknown): boolean {
  return isPlainObject(plugin) && plugin.type === PLUGIN_TYPE;
}

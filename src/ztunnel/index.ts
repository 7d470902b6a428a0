/**
 * The ztunnel's public surface: what other parts (the CLI, the local cluster) may use of it; Biome refuses
 * their imports of anything else under `src/ztunnel`. `ZtunnelApp` is the process (composition and
 * shutdown order); the admin client and tables are what `ambit ztunnel-config` reads and prints.
 */
export { adminGet, adminSocketPath, nodesWithAdminSockets } from './admin-client.ts';
export type { CertificateRow, ConnectionsView, WorkloadRow } from './admin-views.ts';
export { type NodeAgent, ZtunnelApp, type ZtunnelAppOptions } from './app.ts';
export { CONFIG_KINDS, type ConfigKind, type ConfigView, renderConfigTable } from './config-tables.ts';
// The cluster DNS (local) forwards outside names the same way the DNS proxy does.
export { type DnsForwarder, UdpDnsForwarder } from './dns/forwarder.ts';
export { DEFAULT_TIMEOUTS, defaultLimits, ZTUNNEL_NODE_FLAGS, type ZtunnelLimits } from './settings.ts';
// The data path's pure decisions, for `ambit explain` and `ambit authz check` (the same code answers both).
export type { AuthorizationResult, ConnectionAttributes } from './state/authorize.ts';
export { authorize } from './state/authorize.ts';
export { chooseOutbound, type OutboundChoice } from './state/destination.ts';
export type { EffectiveMtlsMode, MtlsResolution } from './state/peer-auth.ts';
export { StateStore } from './state/store.ts';

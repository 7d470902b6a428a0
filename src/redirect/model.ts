/**
 * The interception rules as data: one model, rendered by `render/iptables.ts` and `render/nft.ts`, so the two
 * backends cannot drift apart. Builders here are pure; nothing in this file touches the system.
 *
 * In-pod capture (architecture section 3), for IPv4 and IPv6 alike:
 * - outbound TCP from the app -> REDIRECT to 15001; DNS (UDP and TCP 53) -> REDIRECT to 15053;
 * - inbound TCP, except to 15008 (HBONE, which the agent terminates itself) -> REDIRECT to 15006;
 * - never touched: traffic of sockets marked 0x539 (the agent's own), traffic that leaves through `lo`
 *   (loopback and the pod's own addresses), inbound health probes from the probe address;
 * - connections the agent opens towards the app with a spoofed source (the original client's address) are
 *   connmarked 0x111 so that the app's replies, which would otherwise be routed out of the pod towards the
 *   real client, are marked and routed back over `lo` to the agent (policy route: fwmark 0x111 -> table 100,
 *   where everything is local).
 */
import { PROXY_SOCKET_MARK } from '../core/capture-handler.ts';
import { ZTUNNEL_PORTS } from '../core/ports.ts';
import type { IpFamily } from '../core/sys/sockaddr.ts';

/** The ztunnel's in-pod listeners that captured traffic is redirected to (or, for HBONE, let through to). */
export const CAPTURE_PORTS = {
  outbound: ZTUNNEL_PORTS.outbound,
  inboundPlaintext: ZTUNNEL_PORTS.inboundPlaintext,
  inboundHbone: ZTUNNEL_PORTS.hbone,
  dns: ZTUNNEL_PORTS.dns,
} as const;

/** SO_MARK of every socket the agent opens in a pod. */
export const AGENT_MARK = PROXY_SOCKET_MARK;
/** The bits of the packet and connection marks this model owns. */
export const MARK_MASK = 0xfff;
/** Connection mark of spoofed-source connections, restored onto their replies. */
export const REPLY_CONNMARK = 0x111;
export const REPLY_ROUTE_TABLE = 100;
export const REPLY_RULE_PRIORITY = 32764;

/** Source address the node gives kubelet health probes (Kubernetes only); exempt from capture in the pod. */
export const PROBE_SOURCE: Readonly<Record<IpFamily, string>> = {
  4: '169.254.7.127',
  6: 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff',
};

export type Stage = 'mangle' | 'nat';
export type Hook = 'prerouting' | 'output' | 'postrouting';

export interface ChainSpec {
  stage: Stage;
  hook: Hook;
}

export type Match =
  | { kind: 'protocol'; protocol: 'tcp' | 'udp' }
  /** Needs a `protocol` match in the same rule. */
  | { kind: 'destination-port'; port: number }
  /** Prefixes of the rule's family (a rule with an address match has a `family`). */
  | { kind: 'source'; prefixes: string[] }
  | { kind: 'destination'; prefixes: string[] }
  | { kind: 'input-interface'; name: string }
  | { kind: 'output-interface'; name: string }
  | { kind: 'mark'; value: number; mask: number }
  | { kind: 'connmark'; value: number; mask: number }
  /** The packet's source is an address of this host: it was sent from here, not forwarded. */
  | { kind: 'local-source' };

export type Action =
  | { kind: 'return' }
  | { kind: 'redirect'; port: number }
  /** Sets the `mask` bits of the connection mark to `value`, leaving the other bits. */
  | { kind: 'set-connmark'; value: number; mask: number }
  /** Copies the connection mark onto the packet (which re-routes it). */
  | { kind: 'restore-mark' }
  | { kind: 'snat'; address: string };

export interface Rule {
  chain: ChainSpec;
  /** Undefined: the rule applies to both families. */
  family?: IpFamily | undefined;
  matches: Match[];
  action: Action;
  /**
   * Says why; rendered into the rule, so listings explain themselves. Plain words only (no quotes): both
   * tools print comments back with their own escaping, and listings must compare equal to renderings.
   */
  comment: string;
}

/** `ip rule` + `ip route` pair (per family) that the rule set needs. */
export interface PolicyRoute {
  fwmark: number;
  mask: number;
  table: number;
  priority: number;
}

export interface RuleSet {
  /** nft table (family inet) holding the whole set. */
  nftTable: string;
  /** iptables chain prefix; chains are `<prefix>_PRERT`, `<prefix>_OUTPUT`, `<prefix>_POSTRT`. */
  iptablesPrefix: string;
  /** Chains in rendering order. Every rule's chain is one of these. */
  chains: ChainSpec[];
  rules: Rule[];
  policyRoutes: PolicyRoute[];
}

const MANGLE_PREROUTING: ChainSpec = { stage: 'mangle', hook: 'prerouting' };
const MANGLE_OUTPUT: ChainSpec = { stage: 'mangle', hook: 'output' };
const NAT_PREROUTING: ChainSpec = { stage: 'nat', hook: 'prerouting' };
const NAT_OUTPUT: ChainSpec = { stage: 'nat', hook: 'output' };
const NAT_POSTROUTING: ChainSpec = { stage: 'nat', hook: 'postrouting' };

const FAMILIES: readonly IpFamily[] = [4, 6];

const tcp: Match = { kind: 'protocol', protocol: 'tcp' };
const udp: Match = { kind: 'protocol', protocol: 'udp' };
const agentMark: Match = { kind: 'mark', value: AGENT_MARK, mask: MARK_MASK };

/** The rules installed in every enrolled pod's network namespace. */
export function buildCaptureRules(): RuleSet {
  const rules: Rule[] = [
    {
      chain: MANGLE_PREROUTING,
      matches: [agentMark],
      action: { kind: 'set-connmark', value: REPLY_CONNMARK, mask: MARK_MASK },
      comment: 'connection from the agent into the pod: remember it',
    },
    {
      chain: MANGLE_OUTPUT,
      matches: [{ kind: 'connmark', value: REPLY_CONNMARK, mask: MARK_MASK }],
      action: { kind: 'restore-mark' },
      comment: 'reply to the agent: route it back over lo, even to a spoofed source',
    },
    {
      chain: NAT_PREROUTING,
      matches: [{ kind: 'input-interface', name: 'lo' }],
      action: { kind: 'return' },
      comment: 'looped back: the pod to itself, or the agent to the app',
    },
    ...FAMILIES.map(
      (family): Rule => ({
        chain: NAT_PREROUTING,
        family,
        matches: [{ kind: 'source', prefixes: [PROBE_SOURCE[family]] }, tcp],
        action: { kind: 'return' },
        comment: 'health probe from the node',
      }),
    ),
    {
      chain: NAT_PREROUTING,
      matches: [tcp, { kind: 'destination-port', port: CAPTURE_PORTS.inboundHbone }],
      action: { kind: 'return' },
      comment: 'HBONE: the agent listens on it itself',
    },
    {
      chain: NAT_PREROUTING,
      matches: [tcp],
      action: { kind: 'redirect', port: CAPTURE_PORTS.inboundPlaintext },
      comment: 'inbound plaintext TCP',
    },
    {
      chain: NAT_OUTPUT,
      matches: [agentMark],
      action: { kind: 'return' },
      comment: 'sockets of the agent',
    },
    {
      chain: NAT_OUTPUT,
      matches: [{ kind: 'output-interface', name: 'lo' }],
      action: { kind: 'return' },
      comment: 'loopback, and the pod to its own addresses',
    },
    {
      chain: NAT_OUTPUT,
      matches: [udp, { kind: 'destination-port', port: 53 }],
      action: { kind: 'redirect', port: CAPTURE_PORTS.dns },
      comment: 'DNS over UDP',
    },
    {
      chain: NAT_OUTPUT,
      matches: [tcp, { kind: 'destination-port', port: 53 }],
      action: { kind: 'redirect', port: CAPTURE_PORTS.dns },
      comment: 'DNS over TCP',
    },
    {
      chain: NAT_OUTPUT,
      matches: [tcp],
      action: { kind: 'redirect', port: CAPTURE_PORTS.outbound },
      comment: 'outbound TCP',
    },
  ];
  return {
    nftTable: 'ambit_capture',
    iptablesPrefix: 'AMBIT',
    chains: [MANGLE_PREROUTING, MANGLE_OUTPUT, NAT_PREROUTING, NAT_OUTPUT],
    rules,
    policyRoutes: [
      { fwmark: REPLY_CONNMARK, mask: MARK_MASK, table: REPLY_ROUTE_TABLE, priority: REPLY_RULE_PRIORITY },
    ],
  };
}

/**
 * Kubernetes only, on the node (never in a pod): kubelet's health probes to enrolled pods leave the node
 * with the probe address as source, so the pod rules can exempt them. Rendered and tested here; applied by
 * the Kubernetes integration, not by the local cluster (its pods have no kubelet).
 */
export function buildNodeProbeRules(podPrefixes: readonly string[]): RuleSet {
  const byFamily = (family: IpFamily) =>
    podPrefixes.filter((prefix) => prefix.includes(':') === (family === 6));
  return {
    nftTable: 'ambit_probes',
    iptablesPrefix: 'AMBIT_PROBE',
    chains: [NAT_POSTROUTING],
    rules: FAMILIES.filter((family) => byFamily(family).length > 0).map((family) => ({
      chain: NAT_POSTROUTING,
      family,
      matches: [{ kind: 'destination', prefixes: byFamily(family) }, tcp, { kind: 'local-source' }],
      action: { kind: 'snat', address: PROBE_SOURCE[family] },
      comment: 'health probe from this node to an enrolled pod',
    })),
    policyRoutes: [],
  };
}

/** The rules of a set that apply to `family` (family-less rules apply to both). */
export function rulesFor(ruleSet: RuleSet, family: IpFamily): Rule[] {
  return ruleSet.rules.filter((rule) => rule.family === undefined || rule.family === family);
}

export function sameChain(a: ChainSpec, b: ChainSpec): boolean {
  return a.stage === b.stage && a.hook === b.hook;
}

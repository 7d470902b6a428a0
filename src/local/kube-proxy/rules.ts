/**
 * kube-proxy's job for one node, as nftables rules in the node's namespace (what kube-proxy's nftables mode
 * does, in a table of our own name): a packet to a ClusterIP:port, or to the node's underlay address on a
 * NodePort, is DNATed to one ready endpoint of the Service port, picked at random (`numgen random`), or the
 * one a client last used while `sessionAffinity: ClientIP` holds it (a timeout set per endpoint, refreshed
 * by each new connection). Services without ready endpoints get no rule: their VIP has no route, so a
 * client fails at once. Two masquerades keep replies on the path that undoes the DNAT:
 *
 * - hairpin: a pod of this node reaching a pod of this node through a VIP; the reply would go across the
 *   pod bridge, around the node's conntrack, so the node masquerades (the endpoint answers the node);
 * - NodePort: the endpoint may sit on another node, whose reply would not come back through this one.
 *
 * Pure: the table's definition, and the `nft -f` script (one transaction) that moves the table to it.
 */
import type { ServicePortView, ServiceView } from '../services/endpoints.ts';

/** Our table in each node's namespace; removed with the namespace at `down`. */
export const KUBE_PROXY_TABLE = 'ambit_kube_proxy';

export interface NodeAddresses {
  underlayIP: string;
  podCIDR: string;
}

interface PortRules {
  chain: string;
  service: ServiceView;
  port: ServicePortView;
}

/** Our table's contents and the names of the chains and sets it defines (to remove the ones that go). */
export interface KubeProxyTable {
  definition: string;
  chains: string[];
  sets: string[];
}

export function kubeProxyTable(services: readonly ServiceView[], node: NodeAddresses): KubeProxyTable {
  // Headless Services have no VIP (and no node ports): clients reach their pods directly.
  const ported: PortRules[] = services.flatMap((service) =>
    service.clusterIP === undefined
      ? []
      : service.ports
          .filter((port) => port.endpoints.length > 0)
          .map((port) => ({ chain: chainName('svc', service, port), service, port })),
  );
  const vips = ported.map(
    ({ chain, service, port }) => `${service.clusterIP} . ${proto(port)} . ${port.port} : goto ${chain}`,
  );
  const nodePorts = ported.flatMap(({ chain, service, port }) =>
    service.type === 'ClusterIP' || port.nodePort === undefined
      ? []
      : [`${proto(port)} . ${port.nodePort} : goto ${chain}`],
  );
  const chains: string[] = [];
  const sets: string[] = [];
  const lines = [
    `table ip ${KUBE_PROXY_TABLE} {`,
    '  map service_ips {',
    '    type ipv4_addr . inet_proto . inet_service : verdict',
    ...elements(vips),
    '  }',
    '  map node_ports {',
    '    type inet_proto . inet_service : verdict',
    ...elements(nodePorts),
    '  }',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    ip daddr . meta l4proto . th dport vmap @service_ips',
    `    ip daddr ${node.underlayIP} meta l4proto . th dport vmap @node_ports`,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ct status dnat ip saddr ${node.podCIDR} ip daddr ${node.podCIDR} masquerade`,
    `    ct status dnat ct original ip daddr ${node.underlayIP} masquerade`,
    '  }',
    ...ported.flatMap((rules) => portChains(rules, chains, sets)),
    '}',
  ];
  return { definition: `${lines.join('\n')}\n`, chains, sets };
}

/**
 * The script that brings the table from `previous` (what this process applied last; undefined after a
 * start, when the table may hold anything) to `next`, in one transaction. From scratch, the table is
 * replaced whole. Otherwise rules and maps are flushed and defined again, chains and sets that went are
 * deleted, and the affinity sets that stay keep their clients (as kube-proxy keeps them across endpoint
 * changes).
 */
export function kubeProxyScript(previous: KubeProxyTable | undefined, next: KubeProxyTable): string {
  if (!previous) {
    // Create-then-delete makes the delete valid on the first run.
    return `table ip ${KUBE_PROXY_TABLE}\ndelete table ip ${KUBE_PROXY_TABLE}\n${next.definition}`;
  }
  const gone = (names: string[], kept: string[], kind: 'chain' | 'set') =>
    names
      .filter((name) => !kept.includes(name))
      .map((name) => `delete ${kind} ip ${KUBE_PROXY_TABLE} ${name}\n`);
  return [
    `flush table ip ${KUBE_PROXY_TABLE}\n`,
    `flush map ip ${KUBE_PROXY_TABLE} service_ips\n`,
    `flush map ip ${KUBE_PROXY_TABLE} node_ports\n`,
    next.definition,
    ...gone(previous.chains, next.chains, 'chain'),
    ...gone(previous.sets, next.sets, 'set'),
  ].join('');
}

function portChains({ chain, service, port }: PortRules, chains: string[], sets: string[]): string[] {
  const affinity = service.sessionAffinity;
  const endpoints = port.endpoints.map((endpoint) => ({
    endpoint,
    chain: `${chain.replace(/^svc_/, 'ep_')}_${endpoint.ip.replaceAll('.', '-')}_${endpoint.port}`,
  }));
  // The timeout is part of the name: a set's timeout cannot change, a changed one is another set.
  const affinitySet = (endpointChain: string) =>
    `${endpointChain.replace(/^ep_/, 'aff_')}_${affinity?.timeoutSeconds}s`;
  chains.push(chain, ...endpoints.map((endpoint) => endpoint.chain));
  if (affinity) sets.push(...endpoints.map((endpoint) => affinitySet(endpoint.chain)));
  const out: string[] = [];
  if (affinity) {
    for (const { chain: endpointChain } of endpoints) {
      out.push(
        `  set ${affinitySet(endpointChain)} {`,
        '    type ipv4_addr; flags dynamic, timeout;',
        `    timeout ${affinity.timeoutSeconds}s;`,
        '  }',
      );
    }
  }
  out.push(`  chain ${chain} {`);
  if (affinity) {
    for (const { chain: endpointChain } of endpoints) {
      out.push(`    ip saddr @${affinitySet(endpointChain)} goto ${endpointChain}`);
    }
  }
  const choices = endpoints.map(({ chain: endpointChain }, index) => `${index} : goto ${endpointChain}`);
  out.push(`    numgen random mod ${endpoints.length} vmap { ${choices.join(', ')} }`, '  }');
  for (const { endpoint, chain: endpointChain } of endpoints) {
    out.push(`  chain ${endpointChain} {`);
    if (affinity) out.push(`    update @${affinitySet(endpointChain)} { ip saddr }`);
    out.push(`    meta l4proto ${proto(port)} dnat to ${endpoint.ip}:${endpoint.port}`, '  }');
  }
  return out;
}

/**
 * `svc_<ns>_<name>_<port>_<proto>`: namespaces and Service names are DNS labels (no `_`), so names never
 * collide, and `nft list table` reads like the Services.
 */
function chainName(prefix: string, service: ServiceView, port: ServicePortView): string {
  return `${prefix}_${service.namespace}_${service.name}_${port.port}_${proto(port)}`;
}

function proto(port: ServicePortView): string {
  return port.protocol.toLowerCase();
}

function elements(items: readonly string[]): string[] {
  return items.length === 0 ? [] : [`    elements = { ${items.join(',\n      ')} }`];
}

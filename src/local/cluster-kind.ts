/**
 * The `Cluster` kind (`ambit.dev/v1alpha1`, cluster-scoped), which only the local cluster reads: its nodes
 * and, optionally, its address ranges. The defaults are Kubernetes' usual ones (pods 10.244.0.0/16, services
 * 10.96.0.0/16) plus an underlay for the node namespaces; a host that already routes one of those ranges
 * (a VPN, a corporate LAN) can move the cluster elsewhere with the range fields.
 */
import { isIPv4 } from 'node:net';
import type { Field } from '../core/config/field.ts';
import { DNS_LABEL, type KindDefinition } from '../core/config/resource.ts';
import { type Cidr, cidrSize, cidrsOverlap, formatCidr, hostCount, parseCidr } from './addresses.ts';
import { type PortMappingSpec, parsePortMappings } from './port-mapping-spec.ts';

export interface ClusterNodeSpec {
  name: string;
}

export interface ClusterSpec {
  nodes: ClusterNodeSpec[];
  /** Split into one /24 per node, in node order. */
  podCIDR: Cidr;
  /** Service VIPs; the cluster DNS VIP is its 10th address, as in Kubernetes. */
  serviceCIDR: Cidr;
  /** Addresses of the node namespaces on the fabric bridge. */
  underlayCIDR: Cidr;
  /** Run a Prometheus that scrapes the mesh (see prometheus/extension.ts). */
  prometheus: boolean;
  /** Host loopback ports carried to pods' ports while the cluster runs (see port-mappings.ts). */
  portMappings: PortMappingSpec[];
  /** How many control-plane replicas run, one per node in node order (see mesh/control-plane.ts). */
  controlPlane: { replicas: number };
  /**
   * Where the cluster DNS sends names outside the cluster domain (CoreDNS's `forward`); none: they get
   * NXDOMAIN, so nothing leaves the cluster's namespaces unless the file says so.
   */
  dnsUpstream?: string | undefined;
}

export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
export const DEFAULT_UNDERLAY_CIDR = '10.250.0.0/24';
export const NODE_POD_PREFIX = 24;
/** Cluster names become part of namespace names and file paths: a short DNS label. */
export const MAX_CLUSTER_NAME = 32;

/** Ranges the cluster must never take: they mean something on every host. */
const RESERVED: readonly { cidr: Cidr; what: string }[] = [
  ['0.0.0.0/8', 'the "this network" range'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata lives there)'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
].map(([text, what]) => ({ cidr: (parseCidr(text!) as { cidr: Cidr }).cidr, what: what! }));

export function clusterNameProblem(name: string): string | undefined {
  if (!DNS_LABEL.test(name) || name.length > MAX_CLUSTER_NAME) {
    return `invalid cluster name ${JSON.stringify(name)}: use at most ${MAX_CLUSTER_NAME} lowercase alphanumerics or -, starting and ending alphanumeric`;
  }
  return undefined;
}

export const CLUSTER_KIND: KindDefinition<ClusterSpec> = {
  kind: 'Cluster',
  apiVersions: ['ambit.dev/v1alpha1'],
  namespaced: false,
  parse(doc, meta) {
    const nameProblem = clusterNameProblem(meta.name);
    if (nameProblem) doc.child('metadata').child('name').error(nameProblem);
    const spec = doc
      .child('spec')
      .object(
        [
          'nodes',
          'podCIDR',
          'serviceCIDR',
          'underlayCIDR',
          'prometheus',
          'controlPlane',
          'portMappings',
          'dns',
        ],
        { required: true },
      );
    if (!spec) return undefined;
    const seen = new Set<string>();
    const nodes = spec.child('nodes').list(
      (item) => {
        if (!item.object(['name'], { required: true })) return undefined;
        const name = item.child('name').string({
          required: true,
          pattern: DNS_LABEL,
          patternHint: 'node names are at most 63 lowercase alphanumerics or -, with no dots',
        });
        if (name === undefined) return undefined;
        if (seen.has(name)) return item.child('name').error(`duplicate node name ${JSON.stringify(name)}`);
        seen.add(name);
        return { name };
      },
      { required: true, nonEmpty: true },
    );
    const ranges = {
      podCIDR: parseRange(spec.child('podCIDR'), DEFAULT_POD_CIDR),
      serviceCIDR: parseRange(spec.child('serviceCIDR'), DEFAULT_SERVICE_CIDR),
      underlayCIDR: parseRange(spec.child('underlayCIDR'), DEFAULT_UNDERLAY_CIDR),
    };
    const { podCIDR, serviceCIDR, underlayCIDR } = ranges;
    if (!nodes || !podCIDR || !serviceCIDR || !underlayCIDR) return undefined;
    const nodeSlots = podCIDR.prefix <= NODE_POD_PREFIX ? 2 ** (NODE_POD_PREFIX - podCIDR.prefix) : 0;
    if (nodeSlots < nodes.length) {
      spec
        .child('podCIDR')
        .error(
          `${formatCidr(podCIDR)} holds ${nodeSlots} node subnet(s) of /${NODE_POD_PREFIX} but spec.nodes lists ${nodes.length}: use a shorter prefix`,
        );
    }
    if (cidrSize(serviceCIDR) < 16) {
      spec.child('serviceCIDR').error(`${formatCidr(serviceCIDR)} is too small: use /28 or shorter`);
    }
    if (hostCount(underlayCIDR) < nodes.length) {
      spec
        .child('underlayCIDR')
        .error(
          `${formatCidr(underlayCIDR)} has room for ${hostCount(underlayCIDR)} node(s), not ${nodes.length}`,
        );
    }
    const names = Object.keys(ranges) as (keyof typeof ranges)[];
    names.forEach((name, index) => {
      for (const other of names.slice(index + 1)) {
        if (cidrsOverlap(ranges[name]!, ranges[other]!)) {
          spec
            .child(other)
            .error(`${formatCidr(ranges[other]!)} overlaps spec.${name} ${formatCidr(ranges[name]!)}`);
        }
      }
    });
    const prometheus = spec.child('prometheus').boolean() ?? false;
    const controlPlane = spec.child('controlPlane');
    const replicas = controlPlane.object(['replicas'])
      ? (controlPlane.child('replicas').integer({ min: 1, max: nodes.length }) ?? 1)
      : 1;
    const portMappings = parsePortMappings(spec.child('portMappings'));
    const dns = spec.child('dns');
    const upstream = dns.object(['upstream']) ? dns.child('upstream').string() : undefined;
    const dnsUpstream =
      upstream === undefined || isIPv4(upstream)
        ? upstream
        : dns
            .child('upstream')
            .error(`${JSON.stringify(upstream)} is not an IPv4 address (queries go to its port 53)`);
    return {
      nodes,
      podCIDR,
      serviceCIDR,
      underlayCIDR,
      prometheus,
      controlPlane: { replicas },
      portMappings,
      dnsUpstream,
    };
  },
};

function parseRange(field: Field, fallback: string): Cidr | undefined {
  const text = field.string() ?? fallback;
  const parsed = parseCidr(text);
  if ('error' in parsed) return field.error(parsed.error);
  const reserved = RESERVED.find((range) => cidrsOverlap(range.cidr, parsed.cidr));
  if (reserved) return field.error(`${text} overlaps ${formatCidr(reserved.cidr)} (${reserved.what})`);
  return parsed.cidr;
}

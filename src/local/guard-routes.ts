/**
 * The root namespace's guard routes (architecture 3b): while a cluster exists, its ranges are `unreachable`
 * in the root namespace, so a packet sent there by mistake fails at once instead of following the host's
 * default route out of the machine. Each cluster owns its own routes (Ambit's protocol number plus a metric
 * derived from the cluster name), so clusters with the same ranges add and remove theirs independently and
 * the ranges stay guarded while any of them exists.
 */
import { AmbitError } from '../core/errors.ts';
import { type Cidr, cidrsOverlap, formatCidr, parseCidr, parseIPv4 } from './addresses.ts';
import { ROUTE_PROTOCOL } from './names.ts';
import { ipBatch, run } from './run.ts';
import type { AddressPlan } from './types.ts';

interface RouteJson {
  type?: string;
  dst: string;
  dev?: string;
  table?: string;
  protocol?: string;
  metric?: number;
}

export function guardedRanges(addresses: AddressPlan): string[] {
  return [addresses.underlayCIDR, addresses.podCIDR, addresses.serviceCIDR];
}

async function rootRoutes(filter: string[] = ['table', 'all']): Promise<RouteJson[]> {
  const { stdout } = await run(['ip', '-4', '-j', 'route', 'show', ...filter]);
  return JSON.parse(stdout || '[]') as RouteJson[];
}

function routeCidr(dst: string): Cidr | undefined {
  if (dst === 'default') return undefined;
  const parsed = parseCidr(dst.includes('/') ? dst : `${dst}/32`);
  if ('cidr' in parsed) return parsed.cidr;
  const address = parseIPv4(dst.split('/')[0]!);
  return address === undefined ? undefined : { base: address, prefix: 32 };
}

/**
 * Refuses ranges the host already uses (an address, a LAN, a VPN route): guarding them would cut the host
 * off from them, and the cluster's addresses would be ambiguous. Other clusters' guard routes are fine.
 */
export async function checkRangesFree(addresses: AddressPlan): Promise<void> {
  const conflicts: string[] = [];
  for (const route of await rootRoutes()) {
    if (route.protocol === String(ROUTE_PROTOCOL)) continue;
    const cidr = routeCidr(route.dst);
    if (!cidr) continue;
    for (const range of guardedRanges(addresses)) {
      if (cidrsOverlap(cidr, (parseCidr(range) as { cidr: Cidr }).cidr)) {
        const how = [
          route.type ?? 'unicast',
          route.dev && `dev ${route.dev}`,
          route.table && `table ${route.table}`,
        ];
        conflicts.push(
          `${range} overlaps the host's route ${formatCidr(cidr)} (${how.filter(Boolean).join(' ')})`,
        );
      }
    }
  }
  if (conflicts.length > 0) {
    throw new AmbitError(
      'CONFLICT',
      `the cluster's address ranges are in use on this host; nothing was created:\n  ${conflicts.join('\n  ')}\n` +
        '  Pick free ranges with spec.podCIDR, spec.serviceCIDR and spec.underlayCIDR in the Cluster document.',
    );
  }
}

function routeSpec(dst: string, metric: number): string {
  return `unreachable ${dst} metric ${metric} proto ${ROUTE_PROTOCOL}`;
}

export async function addGuardRoutes(ranges: readonly string[], metric: number): Promise<void> {
  await ipBatch(ranges.map((dst) => `route replace ${routeSpec(dst, metric)}`));
}

/** The guard routes of the cluster with this metric that exist now (found by listing, not by journal). */
export async function guardRoutesOf(metric: number): Promise<string[]> {
  const routes = await rootRoutes(['proto', String(ROUTE_PROTOCOL)]);
  return routes
    .filter((route) => route.type === 'unreachable' && route.metric === metric)
    .map((route) => route.dst);
}

/** Removes every guard route of the cluster with this metric (listed, so routes of a crashed `up` go too). */
export async function removeGuardRoutes(metric: number): Promise<void> {
  const present = await guardRoutesOf(metric);
  if (present.length > 0) await ipBatch(present.map((dst) => `route del ${routeSpec(dst, metric)}`));
}

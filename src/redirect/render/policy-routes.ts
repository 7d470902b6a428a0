/**
 * The policy routes a rule set needs, as `ip -batch` lines per family (the same for both rule backends).
 * `ip rule add` of an identical rule fails with "File exists" and `route replace` overwrites, so applying
 * is idempotent once that one answer is taken as success; removing tolerates "already gone" the same way.
 */
import type { IpFamily } from '../../core/sys/sockaddr.ts';
import type { PolicyRoute, RuleSet } from '../model.ts';

export interface BatchLine {
  command: string;
  /** An error message that means the line's goal already holds. */
  alreadyDone?: RegExp | undefined;
}

/**
 * A delete of something absent: ENOENT, ESRCH for an IPv4 route, or a route table that never existed (a
 * namespace that was never captured, e.g. the CNI plugin's DEL of a pod the agent refused).
 */
const ALREADY_GONE = /No such (file or directory|process)|FIB table does not exist/;

const selector = (route: PolicyRoute) =>
  `fwmark 0x${route.fwmark.toString(16)}/0x${route.mask.toString(16)} pref ${route.priority} table ${route.table}`;

export function renderRoutesApply(ruleSet: RuleSet): BatchLine[] {
  return ruleSet.policyRoutes.flatMap((route) => [
    { command: `rule add ${selector(route)}`, alreadyDone: /File exists/ },
    { command: `route replace local default dev lo table ${route.table}` },
  ]);
}

export function renderRoutesRemove(ruleSet: RuleSet): BatchLine[] {
  return ruleSet.policyRoutes.flatMap((route) => [
    { command: `rule del ${selector(route)}`, alreadyDone: ALREADY_GONE },
    { command: `route del local default dev lo table ${route.table}`, alreadyDone: ALREADY_GONE },
  ]);
}

/** Read-only lines whose output shows our rules and routes. */
export function renderRoutesList(ruleSet: RuleSet): BatchLine[] {
  return ruleSet.policyRoutes.flatMap((route) => [
    {
      command: `rule list fwmark 0x${route.fwmark.toString(16)}/0x${route.mask.toString(16)} table ${route.table}`,
    },
    { command: `route show table ${route.table}` },
  ]);
}

/** What `ip rule list` / `ip route show` print for our routes when installed (trimmed lines). */
export function expectedRoutesListing(ruleSet: RuleSet, family: IpFamily): string[] {
  return ruleSet.policyRoutes.flatMap((route) => [
    `${route.priority}:\tfrom all fwmark 0x${route.fwmark.toString(16)}/0x${route.mask.toString(16)} lookup ${route.table}`,
    family === 4 ? 'local default dev lo scope host' : 'local default dev lo metric 1024 pref medium',
  ]);
}

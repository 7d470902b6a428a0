/**
 * Checks a compiled route table at the waypoint's wire boundary, so that a malformed push is refused
 * (NACKed) as a whole and the last good table keeps serving: every reference resolves, every regex compiles
 * (which also compiles it once for the matchers), every number is in range. Each problem names its path.
 */
import { isPort } from '../net/host-port.ts';
import { parseCidr, parseIp } from '../net/ip.ts';
import { regexProblem } from './regex-cache.ts';
import type {
  Backend,
  L7AuthorizationPolicy,
  LocalRateLimit,
  PathRewrite,
  RequestMatch,
  Route,
  RouteTable,
  StringMatcher,
} from './types.ts';

const PROTOCOLS = new Set(['http', 'http2', 'grpc', 'tcp', 'detect']);
const ACTIONS = new Set(['ALLOW', 'DENY', 'AUDIT']);

type Report = (path: string, message: string) => void;

export function routeTableProblems(table: RouteTable): string[] {
  const problems: string[] = [];
  const report: Report = (path, message) => problems.push(`${path}: ${message}`);
  const guarded = (path: string, check: () => void) => {
    try {
      check();
    } catch (error) {
      report(path, `malformed (${error instanceof Error ? error.message : String(error)})`);
    }
  };
  const clusters = new Set<string>();
  table.clusters.forEach((cluster, i) => {
    guarded(`clusters[${i}]`, () => {
      const path = `clusters[${i}] (${cluster.name})`;
      if (clusters.has(cluster.name)) report(path, 'duplicate name');
      clusters.add(cluster.name);
      if (!isPort(cluster.port)) report(`${path}.port`, `${cluster.port} is not a port`);
      if (!PROTOCOLS.has(cluster.protocol))
        report(`${path}.protocol`, `unknown protocol ${cluster.protocol}`);
      const budget = cluster.policy.retryBudget;
      if (budget !== undefined && !(budget.percent >= 0 && budget.percent <= 100))
        report(`${path}.policy.retryBudget.percent`, `${budget.percent} is not a percentage (0-100)`);
      if (
        budget !== undefined &&
        !(Number.isInteger(budget.minRetryConcurrency) && budget.minRetryConcurrency >= 0)
      )
        report(
          `${path}.policy.retryBudget.minRetryConcurrency`,
          `${budget.minRetryConcurrency} is not a count`,
        );
      cluster.endpoints.forEach((endpoint, j) => {
        const under = endpoint.external?.resolve?.under;
        const named = endpoint.external?.resolve?.hostname;
        // A DYNAMIC_DNS endpoint: the request's host is resolved, and it must fall under a wildcard name.
        if (under !== undefined && (!under.startsWith('*.') || !isResolvableName(under.slice(2))))
          report(
            `${path}.endpoints[${j}].external.resolve.under`,
            `${JSON.stringify(under)} is not *.<name>`,
          );
        else if (
          under === undefined &&
          (named !== undefined ? !isResolvableName(named) : !parseIp(endpoint.ip))
        )
          report(
            `${path}.endpoints[${j}].${named !== undefined ? 'external.resolve.hostname' : 'ip'}`,
            `${JSON.stringify(named ?? endpoint.ip)} is not ${named !== undefined ? 'a DNS name' : 'an IP'}`,
          );
        if (!isPort(endpoint.port)) report(`${path}.endpoints[${j}].port`, `${endpoint.port} is not a port`);
      });
    });
  });
  const served = [
    ...table.servedServices.map((service, i) => ({ service, at: `servedServices[${i}]` })),
    ...(table.servedWorkloads ?? []).map((service, i) => ({ service, at: `servedWorkloads[${i}]` })),
  ];
  served.forEach(({ service, at: entry }) => {
    guarded(entry, () => {
      const path = `${entry} (${service.namespace}/${service.name})`;
      service.vips.forEach((vip, j) => {
        if (!parseIp(vip)) report(`${path}.vips[${j}]`, `${JSON.stringify(vip)} is not an IP`);
      });
      service.ports.forEach((port, j) => {
        const at = `${path}.ports[${j}]`;
        if (!isPort(port.port)) report(`${at}.port`, `${port.port} is not a port`);
        if (!PROTOCOLS.has(port.protocol)) report(`${at}.protocol`, `unknown protocol ${port.protocol}`);
        port.routes.forEach((route, k) => {
          routeProblems(route, `${at}.routes[${k}]`, clusters, report);
        });
        port.tcpRoutes?.forEach((route, k) => {
          const routeAt = `${at}.tcpRoutes[${k}]`;
          route.sni.forEach((matcher, m) => {
            if (matcher.kind !== 'regex') return;
            const problem = regexProblem(matcher.regex);
            if (problem !== undefined) report(`${routeAt}.sni[${m}]`, problem);
          });
          route.backends.forEach((backend, b) => {
            backendProblems(backend, `${routeAt}.backends[${b}]`, clusters, report);
          });
        });
      });
      if (service.rateLimit !== undefined) rateLimitProblems(service.rateLimit, `${path}.rateLimit`, report);
      (service.requestAuthentication ?? []).forEach((rule, j) => {
        const at = `${path}.requestAuthentication[${j}]`;
        if (typeof rule.issuer !== 'string' || rule.issuer === '') report(`${at}.issuer`, 'missing');
        if (rule.jwks !== undefined && !isJson(rule.jwks)) report(`${at}.jwks`, 'not JSON');
      });
    });
  });
  const ports = new Set<number>();
  table.listeners?.forEach((listener, i) => {
    guarded(`listeners[${i}]`, () => {
      const path = `listeners[${i}] (${listener.name})`;
      if (!isPort(listener.port)) report(`${path}.port`, `${listener.port} is not a port`);
      if (ports.has(listener.port)) report(`${path}.port`, `port ${listener.port} is listed twice`);
      ports.add(listener.port);
      if (listener.wire !== 'http' && listener.wire !== 'tcp')
        report(`${path}.wire`, `unknown wire ${JSON.stringify(listener.wire)}`);
      if (!['none', 'terminate', 'passthrough'].includes(listener.tls.mode))
        report(`${path}.tls.mode`, `unknown mode ${JSON.stringify(listener.tls.mode)}`);
      if (listener.tls.mode === 'terminate' && listener.tls.certificates.length === 0)
        report(`${path}.tls.certificates`, 'a terminating listener needs a certificate');
    });
  });
  table.authorization.forEach((policy, i) => {
    guarded(`authorization[${i}]`, () => {
      policyProblems(policy, `authorization[${i}] (${policy.namespace}/${policy.name})`, report);
    });
  });
  return problems;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Rates are whole requests per second of at least 1; override identities are SPIFFE IDs. */
function rateLimitProblems(limit: LocalRateLimit, path: string, report: Report): void {
  const rate = (value: number | undefined, at: string) => {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1))
      report(at, `${value} is not a rate (a whole number of requests per second, at least 1)`);
  };
  rate(limit.totalPerSecond, `${path}.totalPerSecond`);
  rate(limit.identityPerSecond, `${path}.identityPerSecond`);
  limit.overrides.forEach((override, i) => {
    rate(override.perSecond, `${path}.overrides[${i}].perSecond`);
    override.identities.forEach((identity, j) => {
      if (!identity.startsWith('spiffe://'))
        report(`${path}.overrides[${i}].identities[${j}]`, `${JSON.stringify(identity)} is not a SPIFFE ID`);
    });
  });
}

function routeProblems(route: Route, path: string, clusters: ReadonlySet<string>, report: Report): void {
  route.matches.forEach((match, i) => {
    matchProblems(match, `${path}.matches[${i}]`, report);
  });
  const { action } = route;
  switch (action.kind) {
    case 'forward': {
      if (action.backends.length === 0) report(`${path}.action.backends`, 'no backends');
      let total = 0;
      action.backends.forEach((backend, i) => {
        total += backend.weight;
        backendProblems(backend, `${path}.action.backends[${i}]`, clusters, report);
      });
      if (action.backends.length > 0 && total <= 0) report(`${path}.action.backends`, 'weights sum to 0');
      break;
    }
    case 'redirect':
      if (!(action.status >= 300 && action.status <= 399))
        report(`${path}.action.status`, `${action.status} is not a redirect`);
      if (action.path) rewriteProblems(action.path, `${path}.action.path`, report);
      break;
    case 'directResponse':
      if (!(action.status >= 200 && action.status <= 599))
        report(`${path}.action.status`, `${action.status} is not a status`);
      break;
    default:
      report(`${path}.action`, `unknown action ${JSON.stringify((action as { kind: unknown }).kind)}`);
  }
  if (route.rewrite?.path) rewriteProblems(route.rewrite.path, `${path}.rewrite.path`, report);
  route.mirrors.forEach((mirror, i) => {
    if (!clusters.has(mirror.cluster)) report(`${path}.mirrors[${i}]`, `unknown cluster ${mirror.cluster}`);
    percentage(mirror.percentage, `${path}.mirrors[${i}].percentage`, report);
  });
  if (route.fault?.delay) percentage(route.fault.delay.percentage, `${path}.fault.delay.percentage`, report);
  if (route.fault?.abort) percentage(route.fault.abort.percentage, `${path}.fault.abort.percentage`, report);
  if (!(Number.isInteger(route.retry.attempts) && route.retry.attempts >= 0)) {
    report(`${path}.retry.attempts`, `${route.retry.attempts} is not a count`);
  }
}

function backendProblems(
  backend: Backend,
  path: string,
  clusters: ReadonlySet<string>,
  report: Report,
): void {
  if (!(Number.isFinite(backend.weight) && backend.weight >= 0))
    report(`${path}.weight`, `${backend.weight} is not a weight`);
  if (backend.kind === 'cluster' && !clusters.has(backend.cluster))
    report(path, `unknown cluster ${backend.cluster}`);
  if (backend.kind !== 'cluster' && backend.kind !== 'invalid') report(path, 'unknown backend kind');
}

function matchProblems(match: RequestMatch, path: string, report: Report): void {
  const check = (matcher: StringMatcher | { kind: 'present' } | undefined, at: string) => {
    if (matcher?.kind !== 'regex') return;
    const problem = regexProblem(matcher.regex);
    if (problem !== undefined) report(at, problem);
  };
  check(match.path, `${path}.path`);
  check(match.method, `${path}.method`);
  check(match.scheme, `${path}.scheme`);
  check(match.authority, `${path}.authority`);
  match.headers.forEach((condition, i) => {
    check(condition.match, `${path}.headers[${i}]`);
  });
  match.queryParams.forEach((condition, i) => {
    check(condition.match, `${path}.queryParams[${i}]`);
  });
}

function rewriteProblems(rewrite: PathRewrite, path: string, report: Report): void {
  if (rewrite.kind !== 'regex') return;
  const problem = regexProblem(rewrite.regex);
  if (problem !== undefined) report(path, problem);
}

function policyProblems(policy: L7AuthorizationPolicy, path: string, report: Report): void {
  if (!ACTIONS.has(policy.action))
    report(`${path}.action`, `unknown action ${JSON.stringify(policy.action)}`);
  const cidrs = (list: readonly string[], at: string) =>
    list.forEach((value, i) => {
      if (!parseCidr(value))
        report(`${at}[${i}]`, `${JSON.stringify(value)} is not an IP address or CIDR block`);
    });
  policy.rules.forEach((rule, r) => {
    const at = `${path}.rules[${r}]`;
    rule.from.forEach((source, f) => {
      cidrs(source.ipBlocks, `${at}.from[${f}].ipBlocks`);
      cidrs(source.notIpBlocks, `${at}.from[${f}].notIpBlocks`);
      cidrs(source.remoteIpBlocks, `${at}.from[${f}].remoteIpBlocks`);
      cidrs(source.notRemoteIpBlocks, `${at}.from[${f}].notRemoteIpBlocks`);
    });
    rule.when.forEach((condition, w) => {
      if (condition.kind !== 'ip') return;
      cidrs(condition.values, `${at}.when[${w}].values`);
      cidrs(condition.notValues, `${at}.when[${w}].notValues`);
    });
  });
}

function percentage(value: number, path: string, report: Report): void {
  if (!(value >= 0 && value <= 100)) report(path, `${value} is not a percentage`);
}

/** A name the waypoint may look up: dot-separated DNS labels (no wildcard), at most 253 characters. */
export function isResolvableName(name: string): boolean {
  return (
    name.length <= 253 &&
    name.split('.').every((label) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i.test(label))
  );
}

/**
 * `ambit waypoint run`: one waypoint (the L7 proxy of a `Gateway` of class `istio-waypoint`) as a process,
 * in its own pod's network namespace. It subscribes to the control plane as its Gateway with its node's
 * token, gets its identity's certificate (`spiffe://<td>/ns/<ns>/sa/<gateway>`) from the control plane's CA,
 * and serves HBONE on 15008, metrics on 15020, readiness on 15021 and its admin API on 127.0.0.1:15000 (and a
 * unix socket). Runs until SIGINT/SIGTERM, then drains.
 */
import { DEFAULT_TRUST_DOMAIN } from '../../core/identity.ts';
import { createLogger } from '../../core/log.ts';
import { WAYPOINT_PORTS } from '../../core/ports.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import { buildWaypointApp } from '../../waypoint/app.ts';
import { DEFAULT_INBOUND_LIMITS, type InboundLimits } from '../../waypoint/inbound/http-servers.ts';
import { DEFAULT_LOOKUP_LIMITS, type LookupLimits } from '../../waypoint/upstream/lookup-limits.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import {
  CONTROL_CONNECTION_HELP,
  CONTROL_CONNECTION_OPTIONS,
  controlConnectionFlags,
  hostPortFlag,
  portFlag,
  readControlConnection,
  requiredFlag,
} from '../flags.ts';
import { HBONE_LIMIT_DEFAULTS, HBONE_LIMIT_FLAGS } from '../hbone-limit-flags.ts';
import { type LimitFlag, limitFlagsHelp, limitOptions, parseLimitFlags } from '../limit-flags.ts';

/** The limits of the HTTP the waypoint serves inside its tunnels, as flags. */
const INBOUND_LIMIT_FLAGS = [
  {
    flag: 'max-request-header-bytes',
    key: 'maxHeaderBytes',
    unit: 'bytes',
    help: "a request's headers, all of them (HTTP/1.1 and HTTP/2)",
  },
  {
    flag: 'max-http2-streams',
    key: 'maxConcurrentStreams',
    unit: 'count',
    help: 'concurrent streams of one HTTP/2 client connection inside a tunnel',
  },
  {
    flag: 'headers-timeout',
    key: 'headersTimeoutMs',
    unit: 'duration',
    help: "the time a client has to send a request's headers",
  },
  {
    flag: 'keepalive-timeout',
    key: 'keepAliveTimeoutMs',
    unit: 'duration',
    help: 'an HTTP/1.1 connection without a request is closed after',
  },
  {
    flag: 'http2-idle-timeout',
    key: 'http2IdleMs',
    unit: 'duration',
    help: 'an HTTP/2 connection without a frame is closed after',
  },
] as const satisfies readonly LimitFlag<keyof InboundLimits>[];

/** The bounds on the DNS lookups that requests to DYNAMIC_DNS entries make the waypoint send, as flags. */
const DNS_LOOKUP_LIMIT_FLAGS = [
  {
    flag: 'dns-new-names-per-client',
    key: 'newNamesPerClient',
    unit: 'count',
    help: 'names new to the DNS cache one client (source identity) may have looked up per interval',
  },
  {
    flag: 'dns-new-names-interval',
    key: 'newNamesIntervalMs',
    unit: 'duration',
    help: "the interval in which a client's allowance of new names refills",
  },
  {
    flag: 'dns-lookups-per-client',
    key: 'inFlightPerClient',
    unit: 'count',
    help: 'DNS lookups one client may have in flight',
  },
  {
    flag: 'dns-lookups',
    key: 'inFlight',
    unit: 'count',
    help: 'DNS lookups for clients in flight, all clients together',
  },
] as const satisfies readonly LimitFlag<keyof LookupLimits>[];

/** The waypoint's limits as flags: its HBONE listener's (the ztunnel's table), its HTTP's, its lookups'. */
const WAYPOINT_LIMIT_FLAGS = [...HBONE_LIMIT_FLAGS, ...INBOUND_LIMIT_FLAGS, ...DNS_LOOKUP_LIMIT_FLAGS];

const USAGE = `Usage: ambit waypoint run --name GATEWAY --namespace NS --node NODE --control HOST:PORT
                          --token-file FILE --ca-root FILE [options]

Runs a waypoint: the L7 proxy for the Services (and pods) bound to the Gateway NS/GATEWAY, in its pod's
network namespace. Source ztunnels tunnel requests to it over HBONE; it applies L7 policy, routing and load
balancing, and sends each request over HBONE to the chosen endpoint's ztunnel.

Options:
  --name GATEWAY          the Gateway (class istio-waypoint) this waypoint serves; also its service account
  --namespace NS          the Gateway's namespace
  --node NODE             the node the waypoint pod runs on (it authenticates with this node's token)
${CONTROL_CONNECTION_HELP}
  --admin-socket PATH     also serve the admin API on this unix socket
  --trust-domain TD       the mesh's trust domain (default ${DEFAULT_TRUST_DOMAIN})
  --hbone ADDR:PORT       HBONE listener (default 0.0.0.0:${WAYPOINT_PORTS.hbone})
  --admin ADDR:PORT       admin API (default 127.0.0.1:${WAYPOINT_PORTS.admin})
  --metrics-port PORT     Prometheus /metrics on all addresses of the pod (default ${WAYPOINT_PORTS.metrics})
  --readiness-port PORT   /healthz/ready on all addresses of the pod (default ${WAYPOINT_PORTS.readiness})

Limits (what peers may make the waypoint hold; each refusal is counted in
ambit_waypoint_refused_total, and a refused DNS lookup also in
ambit_waypoint_dns_lookups_refused_total by source):
${limitFlagsHelp(WAYPOINT_LIMIT_FLAGS, { ...HBONE_LIMIT_DEFAULTS, ...DEFAULT_INBOUND_LIMITS, ...DEFAULT_LOOKUP_LIMITS })}
`;

const OPTIONS = {
  name: { type: 'string' },
  namespace: { type: 'string' },
  node: { type: 'string' },
  ...CONTROL_CONNECTION_OPTIONS,
  'admin-socket': { type: 'string' },
  'trust-domain': { type: 'string' },
  hbone: { type: 'string' },
  admin: { type: 'string' },
  'metrics-port': { type: 'string' },
  'readiness-port': { type: 'string' },
  ...limitOptions(WAYPOINT_LIMIT_FLAGS),
  help: { type: 'boolean', short: 'h' },
} as const;

const required = (value: string | undefined, flag: string) => requiredFlag(value, flag, USAGE);

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: OPTIONS }, USAGE);
  if (printedHelp(values, USAGE)) return 0;
  const name = required(values.name, 'name');
  const namespace = required(values.namespace, 'namespace');
  const node = required(values.node, 'node');
  const controlFlags = controlConnectionFlags(values, USAGE);
  const hbone = hostPortFlag(values.hbone ?? `0.0.0.0:${WAYPOINT_PORTS.hbone}`, 'hbone');
  const admin = hostPortFlag(values.admin ?? `127.0.0.1:${WAYPOINT_PORTS.admin}`, 'admin');
  const metricsPort = portFlag(values['metrics-port'], 'metrics-port', WAYPOINT_PORTS.metrics);
  const readinessPort = portFlag(values['readiness-port'], 'readiness-port', WAYPOINT_PORTS.readiness);
  const { handshakeMs, ...hboneLimits } = parseLimitFlags(values, HBONE_LIMIT_FLAGS);
  const inbound = parseLimitFlags(values, INBOUND_LIMIT_FLAGS);
  const dnsLookups = parseLimitFlags(values, DNS_LOOKUP_LIMIT_FLAGS);
  const control = await readControlConnection(controlFlags);

  const app = buildWaypointApp({
    waypoint: { name, namespace },
    node,
    trustDomain: values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN,
    connection: control,
    listen: {
      hbone,
      admin,
      adminSocket: values['admin-socket'],
      metrics: { host: '0.0.0.0', port: metricsPort },
      readiness: { host: '0.0.0.0', port: readinessPort },
    },
    limits: { hbone: hboneLimits, handshakeMs, inbound, dnsLookups },
    log: createLogger('waypoint', { waypoint: `${namespace}/${name}`, node }),
  });
  const stopping = stopSignal();
  try {
    await app.start();
  } catch (error) {
    await app.stop();
    throw error;
  }
  await stopping;
  await app.stop();
  return 0;
}

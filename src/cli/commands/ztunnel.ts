/**
 * `ambit ztunnel`: one node's ztunnel as a process. It subscribes to the control plane as its node (the
 * snapshots feed the ztunnel's state; a malformed one is NACKed and the previous one keeps serving), gets
 * workload certificates from the control plane's CA with the node's token, serves pod enrollment on a unix
 * socket (the node agent: capture rules plus the ztunnel's listeners inside each pod), and its admin,
 * metrics and readiness endpoints. The enrollment socket opens once a first snapshot was accepted, so no pod
 * is started before the ztunnel knows the mesh. Runs until SIGINT/SIGTERM.
 */
import { parseHboneImplementation } from '../../core/hbone/implementation.ts';
import { createLogger } from '../../core/log.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import { CaptureAgent } from '../../redirect/agent.ts';
import { EnrollmentServer } from '../../redirect/enroll/server.ts';
import { parseBackendChoice } from '../../redirect/rules.ts';
import { DEFAULT_TIMEOUTS, defaultLimits, ZtunnelApp, type ZtunnelLimits } from '../../ztunnel/index.ts';
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
import { HBONE_LIMIT_FLAGS, type HboneLimitKey } from '../hbone-limit-flags.ts';
import { type LimitFlag, limitFlagsHelp, limitOptions, parseLimitFlags } from '../limit-flags.ts';

/**
 * The ztunnel's limits as flags: its HBONE listeners', then its own; the defaults are `defaultLimits()` (the
 * node's tunnels follow the fd limit).
 */
const ZTUNNEL_LIMIT_FLAGS = [
  ...HBONE_LIMIT_FLAGS,
  {
    flag: 'max-tunnels-per-pod',
    key: 'tunnelsPerPod',
    unit: 'count',
    help: 'open tunnels of one pod, any direction',
  },
  {
    flag: 'max-tunnels-per-node',
    key: 'tunnelsPerNode',
    unit: 'count',
    help: 'open tunnels of the node; the default follows the open-file limit, less a reserve',
  },
] as const satisfies readonly LimitFlag<keyof ZtunnelLimits | HboneLimitKey>[];

const USAGE = `Usage: ambit ztunnel --node NODE --control HOST:PORT --token-file FILE --ca-root FILE
                     --enroll-socket PATH [options]

Runs the ztunnel of one node, in the node's network namespace: the mesh's data plane for every enrolled pod
of the node (HBONE mTLS between pods, L4 authorization, DNS proxy), fed by the control plane.

Options:
  --node NODE             the node this ztunnel serves
${CONTROL_CONNECTION_HELP}
  --enroll-socket PATH    serve pod enrollment here (the node agent's socket)
  --admin-socket PATH     also serve the admin API on this unix socket (what \`ambit ztunnel-config\` reads)
  --backend NAME          capture rules backend: auto|nft|iptables|iptables-nft|iptables-legacy (default auto)
  --admin ADDR:PORT       admin API (default 127.0.0.1:${ZTUNNEL_PORTS.admin})
  --metrics-port PORT     Prometheus /metrics on all addresses of the node (default ${ZTUNNEL_PORTS.metrics})
  --readiness-port PORT   /healthz/ready on all addresses of the node (default ${ZTUNNEL_PORTS.readiness})
  --dns-upstream IP       resolver for names outside the mesh (default: none, they get NXDOMAIN)
  --hbone-impl NAME       HTTP/2 of HBONE: framer (ours, default) or node-http2 (the reference); or AMBIT_HBONE_IMPL

Limits (what peers and pods may make the ztunnel hold; each refusal is counted in
ambit_ztunnel_hbone_refused_total and ambit_ztunnel_connections_refused_total):
${limitFlagsHelp(ZTUNNEL_LIMIT_FLAGS, { ...defaultLimits(), handshakeMs: DEFAULT_TIMEOUTS.handshakeMs })}
`;

const OPTIONS = {
  node: { type: 'string' },
  ...CONTROL_CONNECTION_OPTIONS,
  'enroll-socket': { type: 'string' },
  'admin-socket': { type: 'string' },
  backend: { type: 'string' },
  admin: { type: 'string' },
  'metrics-port': { type: 'string' },
  'readiness-port': { type: 'string' },
  'dns-upstream': { type: 'string' },
  'hbone-impl': { type: 'string' },
  ...limitOptions(ZTUNNEL_LIMIT_FLAGS),
  help: { type: 'boolean', short: 'h' },
} as const;

const required = (value: string | undefined, flag: string) => requiredFlag(value, flag, USAGE);

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: OPTIONS }, USAGE);
  if (printedHelp(values, USAGE)) return 0;
  const node = required(values.node, 'node');
  const controlFlags = controlConnectionFlags(values, USAGE);
  const enrollSocket = required(values['enroll-socket'], 'enroll-socket');
  const backend = values.backend === undefined ? undefined : parseBackendChoice(values.backend, '--backend');
  const admin = hostPortFlag(values.admin ?? `127.0.0.1:${ZTUNNEL_PORTS.admin}`, 'admin');
  const metricsPort = portFlag(values['metrics-port'], 'metrics-port', ZTUNNEL_PORTS.metrics);
  const readinessPort = portFlag(values['readiness-port'], 'readiness-port', ZTUNNEL_PORTS.readiness);
  const { handshakeMs, ...limits } = parseLimitFlags(values, ZTUNNEL_LIMIT_FLAGS);
  const control = await readControlConnection(controlFlags);

  const log = createLogger('ztunnel', { node });
  const app = new ZtunnelApp({
    node,
    control,
    endpoints: {
      admin,
      adminSocket: values['admin-socket'],
      metrics: { host: '0.0.0.0', port: metricsPort },
      readiness: { host: '0.0.0.0', port: readinessPort },
    },
    startNodeAgent: async (handler) => {
      const agent = new CaptureAgent({ handler, backend, log: log.child('capture') });
      const enrollment = await EnrollmentServer.listen(enrollSocket, agent, log.child('enroll'));
      log.info('serving enrollment', { socket: enrollSocket, backend: backend ?? 'auto' });
      return { stopEnrolling: () => enrollment.close(), close: () => agent.close() };
    },
    dnsUpstream: values['dns-upstream'],
    hboneImplementation: parseHboneImplementation(values['hbone-impl'] ?? process.env.AMBIT_HBONE_IMPL),
    limits,
    timeouts: handshakeMs === undefined ? {} : { handshakeMs },
    log,
  });
  const stopping = stopSignal();
  if (await app.start(stopping)) await stopping;
  log.info('stopping');
  await app.stop();
  return 0;
}

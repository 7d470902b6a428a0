/**
 * `ambit control`: runs the control plane (config validation and store, discovery push, CA, metrics) in the
 * foreground until SIGINT/SIGTERM. `ambit control status` shows a running one; `ambit control credential`
 * creates a node's credential in a state directory.
 */
import { mkdirSync } from 'node:fs';
import { TokenReviewAuthenticator } from '../../control/auth/token-review.ts';
import { CertificateAuthority } from '../../control/ca/authority.ts';
import { ControlPlane, DEFAULT_LISTEN, DEFAULT_METRICS_PORT } from '../../control/control-plane.ts';
import { type ControlListenerLimits, DEFAULT_CONTROL_LISTENER_LIMITS } from '../../control/grpc-listener.ts';
import { KubernetesEndpointSlices } from '../../control/pods/kube-endpoint-slices.ts';
import { KubernetesPods } from '../../control/pods/kube-pods.ts';
import { statePaths } from '../../control/state/files.ts';
import { StateLock } from '../../control/state/lock.ts';
import { parseDuration } from '../../core/config/duration.ts';
import type { ControlStatus } from '../../core/control-api/types.ts';
import { UsageError } from '../../core/errors.ts';
import {
  CONTROL_HANDSHAKE_TIMEOUT_MS,
  MAX_GRPC_MESSAGE_BYTES,
  MAX_SNAPSHOT_BYTES,
} from '../../core/grpc/limits.ts';
import { DEFAULT_TRUST_DOMAIN } from '../../core/identity.ts';
import { createLogger } from '../../core/log.ts';
import { createNodeCredential } from '../../core/node-credentials.ts';
import { CONTROL_PLANE_PORTS } from '../../core/ports.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import { loadKubeConfig } from '../../kube/client.ts';
import { KubernetesConfigSource } from '../../kube/config-source.ts';
import { CONTROL_TOKEN_AUDIENCE, NAMES } from '../../kube/manifests/settings.ts';
import { WaypointController } from '../../kube/waypoints/controller.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import {
  type ControlTarget,
  controlClient,
  controlTargetHelp,
  DEFAULT_STATE_DIR,
} from '../control-support.ts';
import { portFlag } from '../flags.ts';
import { type LimitFlag, limitFlagsHelp, limitOptions, parseLimitFlags } from '../limit-flags.ts';
import { packageVersion } from './version.ts';

/** The control plane's limits as flags (defaults: `DEFAULT_CONTROL_LISTENER_LIMITS` and the two below). */
const CONTROL_LIMIT_FLAGS = [
  {
    flag: 'max-connections',
    key: 'maxConnections',
    unit: 'count',
    help: 'open connections on the listener, from everyone',
  },
  {
    flag: 'max-connections-per-source',
    key: 'maxConnectionsPerSource',
    unit: 'count',
    help: 'open connections from one source address',
  },
  {
    flag: 'handshake-timeout',
    key: 'handshakeTimeoutMs',
    unit: 'duration',
    help: 'a TLS handshake not done by then is dropped',
  },
  {
    flag: 'idle-timeout',
    key: 'idleTimeoutMs',
    unit: 'duration',
    help: 'a connection without a call for this long is closed',
  },
  {
    flag: 'max-connection-age',
    key: 'maxConnectionAgeMs',
    unit: 'duration',
    help: 'any connection is drained at this age (the client reconnects)',
  },
  {
    flag: 'max-request-bytes',
    key: 'maxRequestBytes',
    unit: 'bytes',
    help: 'largest message a client may send (ACKs, NACKs, CSRs; on reconnect, what it holds)',
    max: MAX_GRPC_MESSAGE_BYTES,
  },
  {
    flag: 'max-push-bytes',
    key: 'maxPushBytes',
    unit: 'bytes',
    help: 'largest push to one client; a larger one is refused as its NACK (clients take no more)',
    max: MAX_SNAPSHOT_BYTES,
  },
] as const satisfies readonly LimitFlag<
  keyof ControlListenerLimits | 'handshakeTimeoutMs' | 'maxPushBytes'
>[];

const DEFAULT_NODE_ACCOUNT = `ambit-system/${NAMES.ztunnel}`;

const HELP = `Usage: ambit control [options]             run the control plane
       ambit control status [--name CLUSTER | --socket PATH] [-o json]
       ambit control credential <node> [--state-dir DIR]
       ambit control init [--state-dir DIR] [--trust-domain TD]

Runs the control plane: validates and stores config (files given with --config are watched; \`ambit apply\`
talks to it over <state-dir>/control.sock), pushes each data-plane client its view of the mesh over gRPC/TLS,
and signs workload certificates with the mesh CA (<state-dir>/ca/root-cert.pem is the root clients trust).

Options:
  --config PATH        config file or directory to load and watch (repeatable)
  --kubernetes         also take config and pods from the Kubernetes API (Namespaces, Pods, Services, the
                       EndpointSlices of Services without a selector, Istio and Gateway API kinds; invalid
                       objects get a status condition and an Event), and
                       authenticate ztunnels by TokenReview of their projected service-account tokens
  --kubeconfig FILE    the cluster for --kubernetes (default: in-cluster, $KUBECONFIG, ~/.kube/config)
  --token-audience AUD the audience the ztunnels' tokens must be for (default: ${CONTROL_TOKEN_AUDIENCE})
  --node-account NS/SA a service account whose pods are node agents (repeatable; default:
                       ${DEFAULT_NODE_ACCOUNT})
  --waypoint-image IMG the image of the waypoints deployed for Gateways of class istio-waypoint
                       (default: ambit:<version>); the replica holding the Lease ambit-waypoint-controller
                       in $POD_NAMESPACE (default ambit-system) deploys them
  --state-dir DIR      state: config, pods, CA, node credentials, socket (default: ${DEFAULT_STATE_DIR})
  --listen HOST:PORT   gRPC listener (default: ${DEFAULT_LISTEN})
  --api-socket PATH    the API socket (default: <state-dir>/control.sock); replicas sharing one state dir
                       (config, pods, CA) each need their own: see README, Control-plane replicas
  --metrics-port PORT  Prometheus /metrics on the listener's host (default: ${DEFAULT_METRICS_PORT}; 0 = any free port)
  --trust-domain TD    SPIFFE trust domain (default: ${DEFAULT_TRUST_DOMAIN})
  --ca-cert FILE       use this CA certificate instead of a generated root (with --ca-key)
  --ca-key FILE        the CA's private key (PEM)
  --cert-ttl DUR       default workload certificate lifetime (default: 24h)
  --max-cert-ttl DUR   longest lifetime a client may ask for (default: 168h)
  --debounce DUR       quiet period before a change is pushed (default: 100ms)

Limits of the gRPC listener (15012; what a peer without credentials can make it hold; connections refused
before TLS are counted in ambit_control_connections_refused_total, refused streams in
ambit_control_subscriptions_refused_total):
${limitFlagsHelp(CONTROL_LIMIT_FLAGS, {
  ...DEFAULT_CONTROL_LISTENER_LIMITS,
  handshakeTimeoutMs: CONTROL_HANDSHAKE_TIMEOUT_MS,
  maxPushBytes: MAX_SNAPSHOT_BYTES,
})}

status: connected data-plane clients, the version each has ACKed, and NACKs. Options:
${controlTargetHelp(23)}
credential: creates (or shows) the node's bearer token file <state-dir>/nodes/<node>.token (mode 0600).
init: creates the state directory's root CA if it has none (what a later start would do), and prints the
root certificate's path, so that clients can be given it before the control plane runs.
`;

function seconds(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000)
    throw new UsageError(`--${flag}: invalid duration ${JSON.stringify(text)} (e.g. 24h, 90m)`);
  return Math.round(ms / 1000);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', multiple: true },
        kubernetes: { type: 'boolean' },
        kubeconfig: { type: 'string' },
        'token-audience': { type: 'string' },
        'node-account': { type: 'string', multiple: true },
        'waypoint-image': { type: 'string' },
        'state-dir': { type: 'string' },
        listen: { type: 'string' },
        'api-socket': { type: 'string' },
        'metrics-port': { type: 'string' },
        'trust-domain': { type: 'string' },
        'ca-cert': { type: 'string' },
        'ca-key': { type: 'string' },
        'cert-ttl': { type: 'string' },
        'max-cert-ttl': { type: 'string' },
        debounce: { type: 'string' },
        ...limitOptions(CONTROL_LIMIT_FLAGS),
        socket: { type: 'string' },
        name: { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    HELP,
  );
  if (printedHelp(values, HELP)) return 0;
  const [sub, ...rest] = positionals;
  if (sub === 'status') return status(values, values.output);
  if (sub === 'credential') {
    const [node] = rest;
    if (node === undefined) throw new UsageError('usage: ambit control credential <node> [--state-dir DIR]');
    const credential = createNodeCredential(values['state-dir'] ?? DEFAULT_STATE_DIR, node);
    process.stdout.write(`${credential.tokenFile}\n`);
    return 0;
  }
  if (sub === 'init') {
    const files = statePaths(values['state-dir'] ?? DEFAULT_STATE_DIR);
    mkdirSync(files.root, { recursive: true, mode: 0o700 });
    const lock = new StateLock(files.lock);
    // Under the state lock, as a starting control plane makes it: one root however many start at once.
    lock.run(() =>
      CertificateAuthority.loadOrCreate({
        trustDomain: values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN,
        keyFile: files.caKey,
        certFile: files.rootCert,
      }),
    );
    lock.close();
    process.stdout.write(`${files.rootCert}\n`);
    return 0;
  }
  if (sub !== undefined)
    throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (see ambit control --help)`);
  const metricsPort = portFlag(values['metrics-port'], 'metrics-port', undefined, { allowPortZero: true });
  const debounce = values.debounce === undefined ? undefined : parseDuration(values.debounce);
  if (values.debounce !== undefined && debounce === undefined)
    throw new UsageError(`--debounce: invalid duration ${JSON.stringify(values.debounce)}`);
  const { handshakeTimeoutMs, maxPushBytes, ...listenerLimits } = parseLimitFlags(
    values,
    CONTROL_LIMIT_FLAGS,
  );
  const kube = values.kubernetes ? loadKubeConfig(values.kubeconfig) : undefined;
  const kubePods = kube && new KubernetesPods(kube);
  const kubeSlices = kube && new KubernetesEndpointSlices(kube);
  // The pods (and the endpoints of selector-less Services) are in before the first push, so no ztunnel is
  // ever sent a mesh without its workloads.
  await Promise.all([kubePods?.start(), kubeSlices?.start()]);
  const authenticator =
    kube &&
    new TokenReviewAuthenticator(kube, {
      audience: values['token-audience'] ?? CONTROL_TOKEN_AUDIENCE,
      trustedAccounts: nodeAccounts(values['node-account']),
    });
  // A deleted pod's token stops admitting at once, not when its cached review expires.
  if (authenticator) kubePods?.onRemoved((uid) => authenticator.forgetPod(uid));
  const plane = await ControlPlane.start({
    stateDir: values['state-dir'] ?? DEFAULT_STATE_DIR,
    configPaths: values.config,
    listen: values.listen,
    apiSocket: values['api-socket'],
    metricsPort,
    trustDomain: values['trust-domain'],
    caCertFile: values['ca-cert'],
    caKeyFile: values['ca-key'],
    defaultCertTtlSeconds: seconds('cert-ttl', values['cert-ttl']),
    maxCertTtlSeconds: seconds('max-cert-ttl', values['max-cert-ttl']),
    debounceMs: debounce,
    handshakeTimeoutMs,
    maxPushBytes,
    listenerLimits,
    pods: kubePods,
    sliceEndpoints: kubeSlices,
    authenticator,
  });
  // Every replica applies the API's config; only the holder of this Lease writes status and Events.
  const kubernetes =
    kube &&
    new KubernetesConfigSource(kube, plane.store, createLogger('kube.config'), {
      lease: {
        namespace: process.env.POD_NAMESPACE || 'ambit-system',
        name: 'ambit-config-status',
        identity: process.env.POD_NAME || undefined,
      },
    });
  await kubernetes?.start();
  const waypoints = kube && waypointController(kube, plane, values['waypoint-image']);
  await waypoints?.start();
  await stopSignal();
  await waypoints?.stop();
  await kubernetes?.stop();
  await kubePods?.stop();
  await kubeSlices?.stop();
  await plane.stop();
  return 0;
}

/** The waypoint deployment controller, its Lease in the control plane's namespace (the pod's, by the Downward API). */
function waypointController(
  kube: NonNullable<ReturnType<typeof loadKubeConfig>>,
  plane: ControlPlane,
  image: string | undefined,
): WaypointController {
  const namespace = process.env.POD_NAMESPACE || 'ambit-system';
  return new WaypointController(
    kube,
    {
      image: image ?? `ambit:${packageVersion()}`,
      control: `${NAMES.control}.${namespace}.svc:${CONTROL_PLANE_PORTS.grpc}`,
      trustDomain: plane.trustDomain,
      rootCertPem: plane.ca.trustBundle().join(''),
      lease: { namespace, name: 'ambit-waypoint-controller', identity: process.env.POD_NAME || undefined },
    },
    createLogger('kube.waypoints'),
  );
}

function nodeAccounts(given: string[] | undefined): string[] {
  const accounts = given ?? [DEFAULT_NODE_ACCOUNT];
  for (const account of accounts) {
    if (!/^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(account))
      throw new UsageError(`--node-account: ${JSON.stringify(account)} is not NAMESPACE/SERVICE-ACCOUNT`);
  }
  return accounts;
}

async function status(target: ControlTarget, output: string | undefined): Promise<number> {
  const state = await controlClient(target).status();
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(render(state));
  return 0;
}

function render(state: ControlStatus): string {
  const kinds = Object.entries(state.resources)
    .map(([kind, count]) => `${kind}=${count}`)
    .join(' ');
  const lines = [
    `config revision ${state.revision}, mesh version ${state.version}, trust domain ${state.trustDomain}`,
    `grpc ${state.grpcAddress}, metrics ${state.metricsAddress}, up since ${state.startedAt}`,
    `resources: ${kinds || 'none'}; pods: ${state.pods}`,
    ...(state.replica
      ? [
          `replica ${state.replica.identity}, ${state.replica.leading ? 'leader' : `leader: ${state.replica.leader || 'none'}`}`,
        ]
      : []),
    '',
  ];
  if (state.clients.length === 0) return `${lines.join('\n')}no data-plane clients connected\n`;
  const rows = [
    ['CLIENT', 'KIND', 'NODE', 'ACKED', 'IN SYNC', 'NACKS', 'LAST NACK'],
    ...state.clients.map((client) => [
      client.waypoint ?? client.node,
      client.kind,
      client.node,
      client.ackedVersion ?? '-',
      client.inSync ? 'yes' : 'no',
      String(client.nacks),
      client.lastNack ? `version ${client.lastNack.version}: ${client.lastNack.message}` : '',
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return `${lines.join('\n')}${rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

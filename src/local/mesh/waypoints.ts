/**
 * Waypoint deployment in the local cluster (a ClusterExtension, after the control plane), as istiod's
 * deployment controller does on Kubernetes: every `Gateway` of class `istio-waypoint` gets a waypoint pod in
 * its namespace, with the Gateway's name as service account (identity `spiffe://<td>/ns/<ns>/sa/<name>`),
 * labelled `gateway.networking.k8s.io/gateway-name` (so the control plane sees an instance of that
 * waypoint) and `istio.io/dataplane-mode: none` (a waypoint is never captured), running `ambit waypoint
 * run` unprivileged (uid 1337, Istio's proxy user) and restarted by the supervisor like any pod. Deleting
 * the Gateway deletes the pod.
 *
 * Istio's classic Gateways (`networking.istio.io`) are served by a gateway deployment their `selector` picks,
 * as on Kubernetes where Istio's installer runs one: the local cluster runs the deployment of Istio's default
 * profile, `istio-system/istio-ingressgateway` (labels `istio: ingressgateway`, `app: istio-ingressgateway`),
 * whenever some classic Gateway selects it (`CLASSIC_GATEWAY_DEPLOYMENTS`), with the servers' ports; the same
 * proxy, given listeners by its pushes. Its service account is its name.
 *
 * Which Gateways exist: the cluster file's, read from `resources.yaml` as soon as the supervisor starts (so
 * `up` waits for their pods like the file's own), then the control plane's, polled through its API once it
 * is ready (Gateways applied or deleted with `ambit apply|delete`). Pods come and go through the
 * supervisor's runtime (`context.pods`), which wires their network as `up` does.
 *
 * Credentials: the waypoint subscribes and obtains its certificate with its node's token (the control plane
 * lets a node obtain the identity of a pod on that node; the pod is reported before it starts). The token
 * and the mesh root are copied into a directory only the waypoint's user can read
 * (`<state>/waypoints/<ns>.<name>/`), which also holds its admin socket.
 */
import { chownSync, copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { type BackoffPolicy, backoffDelay } from '../../core/backoff.ts';
import { parseYamlText } from '../../core/config/documents.ts';
import { ISTIO_GATEWAY_KIND } from '../../core/config/kinds/istio-gateway.ts';
import { apiGroup } from '../../core/config/resource.ts';
import { ControlApiClient } from '../../core/control-api/client.ts';
import { errorMessage } from '../../core/errors.ts';
import {
  CLASSIC_GATEWAY_DEPLOYMENTS,
  DATAPLANE_MODE_LABEL,
  DATAPLANE_MODE_NONE,
  GATEWAY_NAME_LABEL,
  INGRESS_GATEWAY_CLASSES,
  WAYPOINT_GATEWAY_CLASS,
} from '../../core/labels.ts';
import { createLogger } from '../../core/log.ts';
import { labelsMatch } from '../../core/policy/selector.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';
import { WAYPOINT_NODE_FLAGS } from '../../waypoint/settings.ts';
import { type ClusterExtension, type ExtensionContext, perContext } from '../extensions.ts';
import { leastLoadedNode, loopbackHttpReadiness, type PodTemplate } from '../pod-runtime.ts';
import { checkUnixSocketPath } from '../state.ts';
import type { ClusterState, PodRecord } from '../types.ts';
import {
  controlPlaneAddressFor,
  controlPlaneEndpoint,
  isControlPlaneProcess,
  nodeCredentialFile,
} from './control-plane.ts';

/** Istio's proxy user: the waypoint runs as it, never as root. */
export const WAYPOINT_USER = 1337;
/** How often the control plane's config revision is checked for Gateways applied or deleted. */
const POLL_MS = 500;
const API_TIMEOUT_MS = 5000;
/** Retries of a pass that failed (a name taken, the control plane away), until one succeeds. */
const RETRY_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 10_000 };

const log = createLogger('local.waypoints');

export interface WaypointGateway {
  name: string;
  namespace: string;
  /** An ingress gateway (class `ambit` or `istio`): its listener ports, which its pod serves. */
  ingressPorts?: number[] | undefined;
  /** A classic gateway deployment: its pods' labels (what the Istio Gateways' selectors pick). */
  podLabels?: Readonly<Record<string, string>> | undefined;
}

const keyOf = (gateway: WaypointGateway) => `${gateway.namespace}/${gateway.name}`;

/**
 * The Gateways deployed here among raw documents (the cluster file's, or the control plane's as stored):
 * waypoints, and ingress gateways (the same proxy, given listeners by its pushes).
 */
export function waypointGateways(documents: readonly unknown[]): WaypointGateway[] {
  const found: WaypointGateway[] = [];
  const classicPorts = new Map<string, Set<number>>();
  for (const document of documents) {
    const value = document as {
      apiVersion?: unknown;
      kind?: unknown;
      metadata?: { name?: unknown; namespace?: unknown };
      spec?: { gatewayClassName?: unknown; listeners?: unknown; selector?: unknown; servers?: unknown };
    };
    if (value?.kind === 'Gateway' && typeof value.apiVersion === 'string' && isClassic(value.apiVersion)) {
      const selector = (value.spec?.selector ?? {}) as Record<string, string>;
      const servers = Array.isArray(value.spec?.servers)
        ? (value.spec.servers as { port?: { number?: unknown } }[])
        : [];
      for (const deployment of CLASSIC_GATEWAY_DEPLOYMENTS) {
        if (!labelsMatch(selector, deployment.podLabels)) continue;
        const ports = classicPorts.get(deployment.name) ?? new Set();
        for (const server of servers)
          if (typeof server?.port?.number === 'number') ports.add(server.port.number);
        classicPorts.set(deployment.name, ports);
      }
      continue;
    }
    const className = value?.spec?.gatewayClassName;
    if (value?.kind !== 'Gateway' || typeof className !== 'string') continue;
    const ingress = INGRESS_GATEWAY_CLASSES.includes(className);
    if (!ingress && className !== WAYPOINT_GATEWAY_CLASS) continue;
    const name = value.metadata?.name;
    if (typeof name !== 'string') continue;
    const namespace = typeof value.metadata?.namespace === 'string' ? value.metadata.namespace : 'default';
    if (!ingress) {
      found.push({ name, namespace });
      continue;
    }
    const listeners = Array.isArray(value.spec?.listeners)
      ? (value.spec.listeners as { port?: unknown }[])
      : [];
    const ports = listeners.flatMap((listener) =>
      typeof listener?.port === 'number' ? [listener.port] : [],
    );
    found.push({ name, namespace, ingressPorts: [...new Set(ports)].sort((a, b) => a - b) });
  }
  for (const deployment of CLASSIC_GATEWAY_DEPLOYMENTS) {
    const ports = classicPorts.get(deployment.name);
    if (ports !== undefined) found.push({ ...deployment, ingressPorts: [...ports].sort((a, b) => a - b) });
  }
  return found;
}

/** Marks the classic gateway Services this extension applies (it deletes no other). */
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'ambit-local' };

/**
 * The Service Istio's gateway chart makes for a gateway deployment: its pods by their labels, the HTTP and
 * HTTPS ports users reach (80 and 443) mapped to the unprivileged ports the gateway serves (8080, 8443), and
 * the readiness port.
 */
export function classicGatewayService(deployment: (typeof CLASSIC_GATEWAY_DEPLOYMENTS)[number]): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: deployment.name,
      namespace: deployment.namespace,
      labels: { ...deployment.podLabels, ...MANAGED_BY },
    },
    spec: {
      selector: deployment.podLabels,
      ports: [
        { name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' },
        { name: 'http2', port: 80, targetPort: 8080, protocol: 'TCP' },
        { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
      ],
    },
  };
}

function isClassicGatewayService(document: unknown): boolean {
  const labels = (document as { metadata?: { labels?: Record<string, string> } })?.metadata?.labels;
  return labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY['app.kubernetes.io/managed-by'];
}

/** The classic Gateway's group, as its kind shares the name `Gateway` with the Gateway API's. */
function isClassic(apiVersion: string): boolean {
  return `Gateway.${apiGroup(apiVersion)}` === ISTIO_GATEWAY_KIND;
}

/** The Gateway a pod is the waypoint of, if it is one of ours. */
function gatewayOf(pod: PodRecord): WaypointGateway | undefined {
  return pod.owner?.kind === 'Gateway' ? { name: pod.owner.name, namespace: pod.namespace } : undefined;
}

/** What a waypoint deployment adds and removes to make the cluster's waypoint pods match the Gateways. */
export function waypointChanges(
  pods: readonly PodRecord[],
  gateways: readonly WaypointGateway[],
): { add: WaypointGateway[]; remove: PodRecord[] } {
  const wanted = new Set(gateways.map(keyOf));
  const running = new Set(pods.flatMap((pod) => (gatewayOf(pod) ? [keyOf(gatewayOf(pod)!)] : [])));
  return {
    add: [...new Map(gateways.map((g) => [keyOf(g), g])).values()].filter((g) => !running.has(keyOf(g))),
    remove: pods.filter((pod) => {
      const gateway = gatewayOf(pod);
      return gateway !== undefined && !wanted.has(keyOf(gateway));
    }),
  };
}

/** Where the waypoint of `gateway` finds its credentials and binds its admin socket. */
export function waypointDir(cluster: Pick<ClusterState, 'stateDir'>, gateway: WaypointGateway): string {
  return join(cluster.stateDir, 'waypoints', `${gateway.namespace}.${gateway.name}`);
}

/** The pod of a Gateway's waypoint on `node`: like istiod's, one instance named after the Gateway. */
export function waypointPod(cluster: ClusterState, gateway: WaypointGateway, node: string): PodTemplate {
  const dir = waypointDir(cluster, gateway);
  return {
    name: `${gateway.name}-0`,
    namespace: gateway.namespace,
    node,
    serviceAccount: gateway.name,
    labels: {
      ...gateway.podLabels,
      // How the control plane knows its instances (and lets their node subscribe for them), classic or not.
      [GATEWAY_NAME_LABEL]: gateway.name,
      [DATAPLANE_MODE_LABEL]: DATAPLANE_MODE_NONE,
      ...(gateway.podLabels
        ? {}
        : {
            'gateway.istio.io/managed': gateway.ingressPorts
              ? 'istio.io-gateway-controller'
              : 'istio.io-mesh-controller',
          }),
      'service.istio.io/canonical-name': gateway.name,
    },
    owner: { kind: 'Gateway', name: gateway.name },
    runAsUser: WAYPOINT_USER,
    runAsGroup: WAYPOINT_USER,
    container: {
      name: 'istio-proxy',
      argv: [
        'ambit',
        'waypoint',
        'run',
        '--name',
        gateway.name,
        '--namespace',
        gateway.namespace,
        '--node',
        node,
        '--control',
        controlPlaneAddressFor(cluster, node),
        '--token-file',
        join(dir, 'token'),
        '--ca-root',
        join(dir, 'root-cert.pem'),
        '--admin-socket',
        join(dir, 'admin.sock'),
      ],
      env: { AMBIT_LOG_FORMAT: 'json', NODE_OPTIONS: WAYPOINT_NODE_FLAGS.join(' ') },
      workingDir: '/',
      // HBONE, metrics and readiness, as the waypoint's contract says it listens; an ingress gateway's ports.
      ports: [
        { name: 'mesh', containerPort: ZTUNNEL_PORTS.hbone, protocol: 'TCP' },
        { name: 'metrics', containerPort: ZTUNNEL_PORTS.metrics, protocol: 'TCP' },
        { name: 'status-port', containerPort: ZTUNNEL_PORTS.readiness, protocol: 'TCP' },
        ...(gateway.ingressPorts ?? []).map((port) => ({
          name: `listener-${port}`,
          containerPort: port,
          protocol: 'TCP' as const,
        })),
      ],
      // Ready (an endpoint traffic is sent to) only once the waypoint says so: config and certificate in hand.
      probes: { readiness: loopbackHttpReadiness('/healthz/ready', ZTUNNEL_PORTS.readiness) },
    },
    restartPolicy: 'Always',
  };
}

/** The token of the waypoint's node and the mesh root, readable by the waypoint's user only. */
function writeCredentials(cluster: ClusterState, gateway: WaypointGateway, node: string): void {
  const dir = waypointDir(cluster, gateway);
  checkUnixSocketPath(join(dir, 'admin.sock'), `the admin socket of waypoint ${keyOf(gateway)}`);
  // The parent only lists the waypoints' directories; each of those is its waypoint's alone.
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, WAYPOINT_USER, WAYPOINT_USER);
  for (const [from, to] of [
    [nodeCredentialFile(cluster, node), 'token'],
    [controlPlaneEndpoint(cluster).rootCertFile, 'root-cert.pem'],
  ] as const) {
    copyFileSync(from, join(dir, to));
    chownSync(join(dir, to), WAYPOINT_USER, WAYPOINT_USER);
  }
}

/** The supervisor's side: makes the waypoint pods follow the Gateways, one pass at a time. */
class WaypointDeployment {
  readonly #context: ExtensionContext;
  readonly #api: ControlApiClient;
  #pass: Promise<void> = Promise.resolve();
  #started = false;
  #polling: NodeJS.Timeout | undefined;
  /** The control plane's config revision last reconciled (undefined: reconcile at the next poll). */
  #revision: number | undefined;
  /** The last failed pass, while no pass has succeeded since. */
  #failed: { revision: number | undefined; failures: number; retryAt: number } | undefined;
  #closed = false;

  constructor(context: ExtensionContext) {
    this.#context = context;
    this.#api = new ControlApiClient(controlPlaneEndpoint(context.cluster).sockets, {
      timeoutMs: API_TIMEOUT_MS,
    });
  }

  /** At the supervisor's start: the cluster file's Gateways (added only: nothing else exists yet). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    let gateways: WaypointGateway[];
    try {
      const text = readFileSync(this.#context.paths.resources, 'utf8');
      gateways = waypointGateways(parseYamlText(text, 'resources.yaml').documents.map((d) => d.value));
    } catch (error) {
      log.warn('cannot read the cluster file for Gateways', { error: errorMessage(error) });
      return;
    }
    this.#enqueue(gateways, { addOnly: true }).catch(() => {
      // Logged per Gateway; the control plane's Gateways are reconciled again once it is ready.
    });
  }

  /** Once the control plane is ready: follows its Gateways. */
  follow(): void {
    this.#revision = undefined;
    if (this.#polling || this.#closed) return;
    const poll = () => {
      this.#polling = setTimeout(() => {
        void this.#poll().finally(() => {
          if (!this.#closed) poll();
        });
      }, POLL_MS);
    };
    void this.#poll().finally(poll);
  }

  async #poll(): Promise<void> {
    let revision: number | undefined;
    try {
      revision = (await this.#api.status()).revision;
      if (revision === this.#revision) return;
      // A pass that failed for this revision is retried with backoff, at once for a new one.
      if (revision === this.#failed?.revision && Date.now() < this.#failed.retryAt) return;
      const stored = [
        ...(await this.#api.get({ kind: 'Gateway' })),
        ...(await this.#api.get({ kind: ISTIO_GATEWAY_KIND })),
      ];
      const gateways = waypointGateways(stored.map((r) => r.document));
      await this.#enqueue(gateways, { addOnly: false });
      await this.#classicServices(gateways);
      this.#revision = revision;
      this.#failed = undefined;
    } catch (error) {
      const failures = (this.#failed?.failures ?? 0) + 1;
      const delay = backoffDelay(failures - 1, RETRY_BACKOFF);
      this.#failed = { revision, failures, retryAt: Date.now() + delay };
      log.warn('waypoint reconcile failed', { error: errorMessage(error), retryInMs: delay });
    }
  }

  /**
   * Istio's chart puts a Service in front of each classic gateway deployment, so that its samples reach the
   * ingress by name from inside the mesh: one is applied while its deployment runs (unless the user has a
   * Service of that name) and deleted with it (only if it is ours). The live objects make it a Service of
   * the cluster (ClusterIP, DNS, kube-proxy) and the mesh.
   */
  async #classicServices(gateways: readonly WaypointGateway[]): Promise<void> {
    for (const deployment of CLASSIC_GATEWAY_DEPLOYMENTS) {
      const wanted = gateways.some((g) => g.podLabels !== undefined && g.name === deployment.name);
      const [stored] = await this.#api.get({
        kind: 'Service',
        namespace: deployment.namespace,
        name: deployment.name,
      });
      const ours = stored !== undefined && isClassicGatewayService(stored.document);
      const file = {
        name: `${deployment.name}-service.yaml`,
        content: stringify(classicGatewayService(deployment)),
      };
      if (wanted && stored === undefined) {
        // A Service needs its namespace among the stored objects, or the live objects cannot plan it.
        const namespaces = await this.#api.get({ kind: 'Namespace', name: deployment.namespace });
        const namespace = {
          name: `${deployment.namespace}-namespace.yaml`,
          content: stringify({
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: { name: deployment.namespace, labels: MANAGED_BY },
          }),
        };
        await this.#api.apply(namespaces.length === 0 ? [namespace, file] : [file]);
        log.info('classic gateway Service applied', { service: keyOf(deployment) });
      } else if (!wanted && ours) {
        await this.#api.delete([file]);
        log.info('classic gateway Service deleted', { service: keyOf(deployment) });
      }
    }
  }

  /** Passes run one after the other; a failed one does not stop the next. */
  #enqueue(gateways: WaypointGateway[], options: { addOnly: boolean }): Promise<void> {
    const pass = this.#pass.then(() => this.#reconcile(gateways, options));
    this.#pass = pass.catch(() => {});
    return pass;
  }

  async #reconcile(gateways: WaypointGateway[], options: { addOnly: boolean }): Promise<void> {
    const pods = this.#context.pods;
    if (!pods || this.#closed) return;
    const changes = waypointChanges(this.#context.cluster.pods, gateways);
    let failure: unknown;
    for (const gateway of changes.add) {
      try {
        const node = leastLoadedNode(this.#context.cluster).name;
        writeCredentials(this.#context.cluster, gateway, node);
        const pod = await pods.add(waypointPod(this.#context.cluster, gateway, node));
        log.info('waypoint deployed', { gateway: keyOf(gateway), pod: pod.uid, node, ip: pod.ips[0] });
      } catch (error) {
        log.warn('cannot deploy waypoint', { gateway: keyOf(gateway), error: errorMessage(error) });
        failure ??= error;
      }
    }
    if (!options.addOnly) {
      for (const pod of changes.remove) {
        await pods.remove(pod.uid);
        rmSync(waypointDir(this.#context.cluster, gatewayOf(pod)!), { recursive: true, force: true });
        log.info('waypoint removed', { pod: pod.uid });
      }
    }
    if (failure !== undefined) throw failure;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#polling);
  }
}

const perCluster = perContext((context) => new WaypointDeployment(context));
const deployment = perCluster.get;

export const extension: ClusterExtension = {
  name: 'waypoints',

  async processChanged(process, context) {
    const waypoints = deployment(context);
    waypoints.start();
    if (isControlPlaneProcess(process.id) && process.state === 'running' && process.ready) waypoints.follow();
  },

  async stop(context) {
    perCluster.drop(context)?.close();
  },
};

/**
 * `ambit waypoint apply|delete|list|status`, like `istioctl waypoint`: a waypoint is a Gateway of class
 * `istio-waypoint` written through the control plane's API (the local cluster then deploys its pod), and
 * `--enroll-namespace` labels the namespace `istio.io/use-waypoint=<name>` so its Services use it.
 * (`ambit waypoint run`, the waypoint process itself, lives in waypoint-run.ts.)
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { waypointGateway } from '../../core/config/waypoint-gateway.ts';
import { CONTROL_SOCKET_ENV, type ControlApiClient } from '../../core/control-api/client.ts';
import type { StoredResource } from '../../core/control-api/types.ts';
import { AmbitError, errorMessage, UsageError } from '../../core/errors.ts';
import {
  USE_WAYPOINT_LABEL,
  WAYPOINT_FOR_LABEL,
  WAYPOINT_FOR_VALUES,
  WAYPOINT_GATEWAY_CLASS,
  type WaypointFor,
} from '../../core/labels.ts';
import { table } from '../../local/report.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../commands.ts';
import { type ControlTarget, controlClient, printIssues } from '../control-support.ts';

const DEFAULT_NAME = 'waypoint';
const DEFAULT_WAIT_MS = 60_000;

type ManageCommand = 'apply' | 'delete' | 'list' | 'status';

const help = (
  command: ManageCommand,
) => `Usage: ambit waypoint ${command} [options]${command === 'delete' ? ' [NAME...]' : ''}

Manages waypoints (Gateways of class ${WAYPOINT_GATEWAY_CLASS}) as istioctl waypoint does: apply writes one
through the control plane's API, and the local cluster deploys its pod; list and status read its status.

Options:
  -n, --namespace          namespace (default: default)
  -A, --all-namespaces     list/status: every namespace
      --name               waypoint name (default: ${DEFAULT_NAME})
      --for                apply: the traffic it handles: service (default), workload, all or none
      --enroll-namespace   apply: label the namespace ${USE_WAYPOINT_LABEL}=<name>
      --overwrite          apply --enroll-namespace: replace another waypoint's label on the namespace
      --wait               apply: wait until the waypoint is Programmed (up to 60 s)
      --all                delete: every waypoint of the namespace
      --cluster            the local cluster whose control plane to use (default: the only one)
      --socket             control plane socket (default: $${CONTROL_SOCKET_ENV}, else the only local cluster's)
`;

interface Options {
  namespace: string;
  allNamespaces: boolean;
  name: string;
  for: WaypointFor;
  enrollNamespace: boolean;
  overwrite: boolean;
  wait: boolean;
  all: boolean;
  target: ControlTarget;
}

function parseOptions(
  argv: string[],
  usage: string,
): { options: Options; positionals: string[]; help: boolean } {
  const { values, positionals } = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        'all-namespaces': { type: 'boolean', short: 'A' },
        name: { type: 'string' },
        for: { type: 'string' },
        'enroll-namespace': { type: 'boolean' },
        overwrite: { type: 'boolean' },
        wait: { type: 'boolean' },
        all: { type: 'boolean' },
        cluster: { type: 'string' },
        socket: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    usage,
  );
  const scope = values.for ?? 'service';
  if (!(WAYPOINT_FOR_VALUES as readonly string[]).includes(scope)) {
    throw new UsageError(`--for ${JSON.stringify(scope)}: use ${WAYPOINT_FOR_VALUES.join(', ')}`, usage);
  }
  return {
    help: values.help ?? false,
    positionals,
    options: {
      namespace: values.namespace ?? 'default',
      allNamespaces: values['all-namespaces'] ?? false,
      name: values.name ?? DEFAULT_NAME,
      for: scope as WaypointFor,
      enrollNamespace: values['enroll-namespace'] ?? false,
      overwrite: values.overwrite ?? false,
      wait: values.wait ?? false,
      all: values.all ?? false,
      target: { socket: values.socket, name: values.cluster },
    },
  };
}

interface GatewayDocument {
  metadata?: { labels?: Record<string, string> };
  spec?: { gatewayClassName?: string };
  status?: {
    addresses?: { value: string }[];
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

async function waypoints(client: ControlApiClient, options: Options): Promise<StoredResource[]> {
  const gateways = await client.get({
    kind: 'Gateway',
    namespace: options.allNamespaces ? undefined : options.namespace,
  });
  return gateways.filter(
    (gateway) => (gateway.document as GatewayDocument).spec?.gatewayClassName === WAYPOINT_GATEWAY_CLASS,
  );
}

function condition(resource: StoredResource, type: string) {
  return (resource.document as GatewayDocument).status?.conditions?.find((c) => c.type === type);
}

async function apply(options: Options): Promise<number> {
  const client = controlClient(options.target);
  const gateway = waypointGateway(options.name, options.namespace, options.for);
  const result = await client.apply([
    { name: `waypoint ${options.namespace}/${options.name}`, content: stringify(gateway) },
  ]);
  printIssues(result.issues);
  const changed = result.created.length > 0 ? 'applied' : 'unchanged';
  process.stdout.write(`waypoint ${options.namespace}/${options.name} ${changed}\n`);
  if (options.enrollNamespace) await enrollNamespace(client, options);
  if (options.wait) await waitProgrammed(client, options);
  return 0;
}

/**
 * Labels the namespace to use the waypoint. In a local cluster the label goes through its supervisor (the
 * cluster record holds namespace labels and is what the control plane is resynced from); with a control
 * plane run alone, the Namespace document is applied with the label.
 */
async function enrollNamespace(client: ControlApiClient, options: Options): Promise<void> {
  const { namespace, name } = options;
  const [stored] = await client.get({ kind: 'Namespace', name: namespace });
  const document = (stored?.document ?? {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace },
  }) as { metadata: { labels?: Record<string, string> } };
  const current = document.metadata.labels?.[USE_WAYPOINT_LABEL];
  if (current !== undefined && current !== name && !options.overwrite) {
    throw new AmbitError(
      'CONFLICT',
      `namespace ${namespace} already uses waypoint ${current}: add --overwrite to replace it`,
    );
  }
  const local = await localCluster(options.target);
  if (!local || !(await labelThroughSupervisor(local, namespace, name))) {
    const labelled = {
      ...document,
      metadata: { ...document.metadata, labels: { ...document.metadata.labels, [USE_WAYPOINT_LABEL]: name } },
    };
    await client.apply([{ name: `namespace ${namespace}`, content: stringify(labelled) }]);
  }
  process.stdout.write(`namespace ${namespace} labelled with "${USE_WAYPOINT_LABEL}: ${name}"\n`);
}

/** False when the cluster does not have the namespace (it exists only in the control plane's config). */
async function labelThroughSupervisor(
  cluster: string,
  namespace: string,
  waypoint: string,
): Promise<boolean> {
  const [{ controlRequest }, { clusterDir, statePaths, stateRoot }] = await Promise.all([
    import('../../local/supervisor/control.ts'),
    import('../../local/state.ts'),
  ]);
  try {
    await controlRequest(statePaths(clusterDir(stateRoot(), cluster)), cluster, {
      type: 'label',
      target: { kind: 'namespace', name: namespace },
      edit: { set: { [USE_WAYPOINT_LABEL]: waypoint }, remove: [] },
      overwrite: true,
    });
    return true;
  } catch (error) {
    if (error instanceof AmbitError && error.code === 'NOT_FOUND') return false;
    throw error;
  }
}

/** The local cluster whose control plane the target names, if it is one (not a socket given outright). */
async function localCluster(target: ControlTarget): Promise<string | undefined> {
  if (target.socket !== undefined) return undefined;
  if (target.name === undefined && process.env[CONTROL_SOCKET_ENV]) return undefined;
  const { listClusters, selectCluster, stateRoot } = await import('../../local/state.ts');
  const root = stateRoot();
  if (target.name === undefined && listClusters(root).length === 0) return undefined;
  return selectCluster(root, target.name);
}

async function waitProgrammed(client: ControlApiClient, options: Options): Promise<void> {
  const deadline = Date.now() + DEFAULT_WAIT_MS;
  for (;;) {
    const [gateway] = await client.get({ kind: 'Gateway', name: options.name, namespace: options.namespace });
    const programmed = gateway ? condition(gateway, 'Programmed') : undefined;
    if (programmed?.status === 'True') {
      process.stdout.write(`waypoint ${options.namespace}/${options.name} programmed\n`);
      return;
    }
    if (Date.now() > deadline) {
      throw new AmbitError(
        'TIMEOUT',
        `waypoint ${options.namespace}/${options.name} is not Programmed after ${DEFAULT_WAIT_MS / 1000} s: ${programmed?.message ?? 'no status'}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function remove(options: Options, names: string[]): Promise<number> {
  const client = controlClient(options.target);
  const targets = options.all
    ? (await waypoints(client, { ...options, allNamespaces: false })).map((w) => w.name)
    : names.length > 0
      ? names
      : [options.name];
  if (targets.length === 0) {
    process.stderr.write(`No waypoints found in ${options.namespace} namespace.\n`);
    return 0;
  }
  const result = await client.delete(
    targets.map((name) => ({
      name: `waypoint ${options.namespace}/${name}`,
      content: stringify(waypointGateway(name, options.namespace, 'service')),
    })),
  );
  for (const name of result.deleted) process.stdout.write(`${name} deleted\n`);
  for (const name of result.notFound) process.stderr.write(`${name} not found\n`);
  return result.notFound.length > 0 ? 1 : 0;
}

async function list(options: Options): Promise<number> {
  const found = await waypoints(controlClient(options.target), options);
  if (found.length === 0) {
    process.stderr.write(
      `No waypoints found${options.allNamespaces ? '' : ` in ${options.namespace} namespace`}.\n`,
    );
    return 0;
  }
  const rows = found.map((w) => {
    const document = w.document as GatewayDocument;
    return [
      w.namespace ?? '',
      w.name,
      document.metadata?.labels?.[WAYPOINT_FOR_LABEL] ?? 'service',
      condition(w, 'Programmed')?.status ?? 'Unknown',
      document.status?.addresses?.map((a) => a.value).join(',') ?? '',
    ];
  });
  process.stdout.write(`${table(['NAMESPACE', 'NAME', 'FOR', 'PROGRAMMED', 'ADDRESS'], rows)}\n`);
  return 0;
}

async function status(options: Options): Promise<number> {
  const client = controlClient(options.target);
  const found = (await waypoints(client, options)).filter(
    (w) => options.allNamespaces || w.name === options.name,
  );
  if (found.length === 0) {
    throw new AmbitError(
      'NOT_FOUND',
      `waypoint ${options.namespace}/${options.name} not found (see ambit waypoint list)`,
    );
  }
  const rows: string[][] = [];
  for (const w of found) {
    for (const c of (w.document as GatewayDocument).status?.conditions ?? []) {
      rows.push([w.namespace ?? '', w.name, c.status, c.type, c.reason, c.message]);
    }
  }
  process.stdout.write(`${table(['NAMESPACE', 'NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE'], rows)}\n`);
  const local = await localCluster(options.target);
  if (local)
    for (const w of found) await showAdminTables(local, { name: w.name, namespace: w.namespace ?? '' });
  return found.every((w) => condition(w, 'Programmed')?.status === 'True') ? 0 : 1;
}

interface AdminRoute {
  service?: string;
  port?: number;
  protocol?: string;
  route?: string;
  action?: string;
}

interface AdminCluster {
  name?: string;
  loadBalancer?: string;
  endpoints?: { address?: string; workload?: string; health?: string; activeRequests?: number }[];
}

/**
 * In a local cluster, what the running waypoint itself says (its admin socket, as `ztunnel-config` reads a
 * ztunnel's): the routes per served port, and each cluster's endpoints with their health.
 */
async function showAdminTables(cluster: string, gateway: { name: string; namespace: string }): Promise<void> {
  const [{ waypointDir }, { clusterDir, stateRoot }, { adminGet }] = await Promise.all([
    import('../../local/mesh/waypoints.ts'),
    import('../../local/state.ts'),
    import('../../ztunnel/index.ts'),
  ]);
  const socket = join(waypointDir({ stateDir: clusterDir(stateRoot(), cluster) }, gateway), 'admin.sock');
  let routes: AdminRoute[];
  let clusters: AdminCluster[];
  try {
    [routes, clusters] = (await Promise.all([
      adminGet(socket, '/routes'),
      adminGet(socket, '/clusters'),
    ])) as [AdminRoute[], AdminCluster[]];
  } catch (error) {
    process.stdout.write(
      `\n${gateway.namespace}/${gateway.name}: admin not reachable (${errorMessage(error)})\n`,
    );
    return;
  }
  const text = (value: unknown) => (value === undefined ? '' : String(value));
  process.stdout.write(
    `\nROUTES of ${gateway.namespace}/${gateway.name}\n${table(
      ['SERVICE', 'PORT', 'PROTOCOL', 'ROUTE', 'ACTION'],
      routes.map((r) => [text(r.service), text(r.port), text(r.protocol), text(r.route), text(r.action)]),
    )}\n`,
  );
  process.stdout.write(
    `\nCLUSTERS of ${gateway.namespace}/${gateway.name}\n${table(
      ['CLUSTER', 'LB', 'ENDPOINT', 'WORKLOAD', 'HEALTH', 'ACTIVE'],
      clusters.flatMap((c) =>
        (c.endpoints?.length ? c.endpoints : [{}]).map((e) => [
          text(c.name),
          text(c.loadBalancer),
          text(e.address),
          text(e.workload),
          text(e.health),
          text(e.activeRequests),
        ]),
      ),
    )}\n`,
  );
}

/** The `ambit waypoint <command>` entry for one of the commands above. */
export function command(name: ManageCommand): Command {
  return {
    async run(argv: string[]): Promise<number> {
      const usage = help(name);
      const { options, positionals, help: asked } = parseOptions(argv, usage);
      if (asked) {
        process.stdout.write(usage);
        return 0;
      }
      if (name !== 'delete' && positionals.length > 0) {
        throw new UsageError(`unexpected ${positionals.join(' ')}`, usage);
      }
      switch (name) {
        case 'apply':
          return apply(options);
        case 'delete':
          return remove(options, positionals);
        case 'list':
          return list(options);
        case 'status':
          return status(options);
      }
    },
  };
}

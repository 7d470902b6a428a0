/**
 * `ambit local <up|down|status|exec|logs|label|scale|rollout|demo>`: the local multi-node cluster. Progress goes to stderr,
 * results (summary tables, JSON, command output) to stdout.
 */
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from '../../core/errors.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import {
  clusterDir,
  DEFAULT_STATE_ROOT,
  listClusters,
  requireClusterState,
  selectCluster,
  statePaths,
  stateRoot,
} from '../../local/state.ts';
import type { LabelOutcome } from '../../local/supervisor/control.ts';
import { parseCommandArgs } from '../args.ts';
import { durationFlag } from '../flags.ts';

// Subcommands load what they need when they run, so that `status` or `exec` starts quickly.
const progress = async () => {
  const { createProgress } = await import('../../local/progress.ts');
  return createProgress({ out: process.stderr, tty: process.stderr.isTTY === true });
};

const USAGE = `Usage: ambit local <command> [options]

Commands:
  up -f <cluster.yaml> [--name N] [--keep-on-failure] [--prometheus] [--control-plane-replicas N]
                                                         build a cluster and start its pods
  down [--name N | --all]                                remove a cluster (idempotent)
  status [--name N] [-o table|json]                      nodes, pods (state, restarts, mesh), services
  exec <pod> [-n ns] [--name N] -- <cmd...>              run a command in a pod's netns as its user
  port-forward <pod> [-n ns] [--name N] [--address A] HOST_PORT:POD_PORT...
                                                         a loopback port of the host to a pod's port
  logs <pod|node|component|supervisor> [-n ns] [--name N] [--tail N] [-f]
  label <pod|namespace> <name> [-n ns] [--name N] [--overwrite] key=value... key-...
                                                         change labels on the running cluster (as kubectl
                                                         label); pods are enrolled or unenrolled at once
  scale deployment/<d> --replicas N [-n ns] [--name N]   change a Deployment's replicas (as kubectl scale)
  rollout restart|status deployment/<d> [-n ns] [--name N] [--timeout S]
                                                         roll a Deployment's pods anew; wait for a rollout
  demo [--name N] [--keep]                               a 2-node cluster, a cross-node request, teardown
  join-bundle --nodes N[,N...] [--name N]                what another host needs to run these nodes of
                                                         this cluster (up --span-nodes ... --join FILE)

--name picks the cluster: for up, the Cluster document's name by default; otherwise the only cluster.
State lives in ${stateRoot()}/<name>/ (AMBIT_STATE_DIR overrides ${DEFAULT_STATE_ROOT}).
`;

type Subcommand = (argv: string[]) => Promise<number>;

/** `ambit local <command> --help`: what each subcommand takes and does. */
const HELP: Record<string, string> = {
  up: `Usage: ambit local up -f <file>... [--name N] [--keep-on-failure] [--prometheus]
                       [--control-plane-replicas N]

Builds a local cluster from YAML files (several -f, or a directory): one Cluster document
(apiVersion: ambit.dev/v1alpha1, spec.nodes) and ordinary Kubernetes manifests: Namespace, Pod,
Deployment, Service (ClusterIP, NodePort, LoadBalancer), ServiceAccount, ConfigMap, Secret, and the mesh
kinds. Containers run their command, or a stand-in for well-known images (see \`ambit app --help\`).
Probes (readiness, liveness, startup) are run by the supervisor. Every problem of the files is reported
at once, and nothing is created if there is any.

  -f, --file          a cluster file or directory (repeatable)
  --name              the cluster's name (default: the Cluster document's)
  --keep-on-failure   leave a failed cluster in place for inspection
  --wait              how long to wait for every pod to be ready or to have ended (default 60s; e.g. 2m);
                      pods still starting then are shown not ready, and up still succeeds
  --prometheus        run a Prometheus pod (istio-system/prometheus) scraping every ztunnel, waypoint and
                      the control plane (also: the Cluster's spec.prometheus: true); reach it with
                      \`ambit local port-forward prometheus 9090\`
  --control-plane-replicas N
                      run N control planes, one on each of the first N nodes, sharing config, pods and
                      the CA (also: the Cluster's spec.controlPlane.replicas; default 1); data planes fail
                      over among them (README, Control-plane replicas)

Across hosts (VMs or machines; see the README's "Vagrant" section): every host runs up with the same
files and realizes only its own nodes; the device joins the cluster's fabric bridge, so the hosts' devices
must share one network (a switch, a VM network) that nothing else uses.
  --span-nodes        the nodes this host runs (comma-separated); the first node's host runs the control plane
  --underlay-device   this host's interface to the other hosts (it moves into the cluster's fabric namespace
                      and comes back at down)
  --join              on the other hosts: a file with \`ambit local join-bundle --nodes ...\` from the first host
`,
  down: `Usage: ambit local down [--name N | --all]

Removes everything of a cluster (namespaces, routes, processes, files); safe to run twice.
`,
  status: `Usage: ambit local status [--name N] [-o table|json]

Nodes, pods (READY from their readiness probe or ports, STATUS, RESTARTS, MESH) with the reason a pod is
not running or not ready (exit code and last log line, failing probe, start gate), Services and the
system components.
`,
  exec: `Usage: ambit local exec <pod> [-n NAMESPACE] [--name N] -- <command...>

Runs a command in the pod's network namespace, as the pod's user, with its environment and volumes.
`,
  'port-forward': `Usage: ambit local port-forward <pod> [-n NAMESPACE] [--name N] [--address 127.0.0.1] HOST_PORT:POD_PORT...

Listens on the host's loopback (--address, default 127.0.0.1; only loopback is allowed) and joins each
connection to the pod's port, opened inside the pod's network namespace, until interrupted (as kubectl
port-forward). A mapping of one port (9090) uses it on both sides; host port 0 picks a free one. The
cluster's addresses stay unroutable from the host. For an ingress gateway, the pod is <gateway>-0:
ambit local port-forward -n istio-ingress bookinfo-gateway-0 8080:80
`,
  logs: `Usage: ambit local logs <pod|node|component|supervisor> [-n NAMESPACE] [--name N] [--tail N] [-f]

A pod's output, a system component's (control-plane, node-agent/<node>), every component of a node,
or the supervisor's own log.
`,
  label: `Usage: ambit local label <pod|namespace> <name> [-n NAMESPACE] [--name N] [--overwrite] key=value... key-...

Changes labels on the running cluster as kubectl label does; pods are enrolled in or removed from the
mesh at once (istio.io/dataplane-mode=ambient).
`,
  scale: `Usage: ambit local scale deployment/<name> --replicas N [-n NAMESPACE] [--name N]

Sets the Deployment's replicas in the cluster's control plane, as kubectl scale does; the cluster adds or
removes its pods at once (removed pods leave their Services first, then stop).
`,
  rollout: `Usage: ambit local rollout restart|status deployment/<name> [-n NAMESPACE] [--name N] [--timeout S]

restart: gives the Deployment's pod template a kubectl.kubernetes.io/restartedAt annotation, so its pods
are replaced by a rolling update (spec.strategy.rollingUpdate maxSurge/maxUnavailable, 25%/25% by
default): new pods must be ready before old ones go.
status: prints the rollout's progress until it is complete (exit 0), or until --timeout seconds (default
300) pass (exit 1).
`,
  demo: `Usage: ambit local demo [--name N] [--keep]

Builds a 2-node cluster, makes a cross-node request through the mesh, and removes it (unless --keep).
`,
};

const SUBCOMMANDS: Record<string, Subcommand> = {
  up: runUp,
  down: runDown,
  status: runStatus,
  exec: runExec,
  'port-forward': runPortForward,
  logs: runLogs,
  label: runLabel,
  scale: runScale,
  rollout: runRollout,
  demo: async (argv) => {
    const { values } = parse(argv, { name: { type: 'string' }, keep: { type: 'boolean' } });
    const { runDemo } = await import('../../local/demo.ts');
    return runDemo({ name: values.name, keep: values.keep ?? false, root: stateRoot() });
  },
  'join-bundle': async (argv) => {
    const { values } = parse(argv, { name: { type: 'string' }, nodes: { type: 'string' } });
    if (!values.nodes) throw new UsageError('join-bundle needs --nodes: the nodes the joining host runs');
    const { makeJoinBundle, encodeJoinBundle } = await import('../../local/span/join-bundle.ts');
    const cluster = requireClusterState(stateRoot(), selectCluster(stateRoot(), values.name));
    const bundle = makeJoinBundle(
      cluster,
      values.nodes.split(',').map((node) => node.trim()),
    );
    process.stdout.write(`${encodeJoinBundle(bundle)}\n`);
    return 0;
  },
  'node-gateway': async (argv) => {
    const { values } = parse(argv, { 'state-dir': { type: 'string' }, listen: { type: 'string' } });
    if (!values['state-dir'] || !values.listen)
      throw new UsageError('node-gateway needs --state-dir and --listen');
    const { startNodeGateway } = await import('../../local/span/node-gateway.ts');
    const gateway = await startNodeGateway(values['state-dir'], values.listen);
    await stopSignal();
    await gateway.close();
    return 0;
  },
  supervise: async (argv) => {
    const { values } = parse(argv, { 'state-dir': { type: 'string' } });
    if (!values['state-dir']) throw new UsageError('supervise needs --state-dir');
    const { runSupervisor } = await import('../../local/supervisor/main.ts');
    return runSupervisor(values['state-dir']);
  },
};

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const subcommand = SUBCOMMANDS[name];
  if (!subcommand) throw new UsageError(`unknown subcommand ${JSON.stringify(name)}\n\n${USAGE}`);
  // Only options before `--` are ours: `exec pod -- cmd --help` is the command's.
  const separator = rest.indexOf('--');
  const ours = separator < 0 ? rest : rest.slice(0, separator);
  if (ours.includes('--help') || ours.includes('-h')) {
    process.stdout.write(HELP[name] ?? USAGE);
    return 0;
  }
  return subcommand(rest);
}

type OptionSpec = ParseArgsConfig['options'];

function parse<O extends OptionSpec>(argv: string[], options: O, positionals = 0) {
  const parsed = parseCommandArgs({ args: argv, options, allowPositionals: true }, USAGE);
  if (parsed.positionals.length > positionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[positionals])}`);
  }
  return parsed;
}

async function runUp(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    file: { type: 'string', short: 'f', multiple: true },
    name: { type: 'string' },
    'keep-on-failure': { type: 'boolean' },
    wait: { type: 'string' },
    prometheus: { type: 'boolean' },
    'control-plane-replicas': { type: 'string' },
    'span-nodes': { type: 'string' },
    'underlay-device': { type: 'string' },
    join: { type: 'string' },
  });
  if (!values.file?.length) throw new UsageError('up needs a cluster file: ambit local up -f cluster.yaml');
  const span = await spanOptions(values['span-nodes'], values['underlay-device'], values.join);
  const [{ up }, { defaultExtensionUrls, PROMETHEUS_EXTENSION_URL }, { buildReport, renderReport }] =
    await Promise.all([
      import('../../local/up.ts'),
      import('../../local/extensions.ts'),
      import('../../local/report.ts'),
    ]);
  const result = await up({
    files: values.file,
    name: values.name,
    root: stateRoot(),
    extensions: [...defaultExtensionUrls(), ...(values.prometheus ? [PROMETHEUS_EXTENSION_URL] : [])],
    keepOnFailure: values['keep-on-failure'] ?? false,
    startTimeoutMs: values.wait === undefined ? undefined : durationFlag(values.wait, 'wait', 0),
    controlPlaneReplicas: replicasFlag(values['control-plane-replicas']),
    progress: await progress(),
    span,
  });
  const paths = statePaths(result.cluster.stateDir);
  process.stdout.write(
    `\ncluster ${result.cluster.name} is up (${(result.elapsedMs / 1000).toFixed(1)} s)\n\n`,
  );
  process.stdout.write(renderReport(buildReport(result.cluster, paths)));
  return 0;
}

/** `--span-nodes a,b --underlay-device eth1 [--join FILE]`: this host's part of a cluster across hosts. */
async function spanOptions(
  nodes: string | undefined,
  device: string | undefined,
  joinFile: string | undefined,
): Promise<import('../../local/span/span.ts').SpanOptions | undefined> {
  if (nodes === undefined && device === undefined && joinFile === undefined) return undefined;
  if (nodes === undefined || device === undefined) {
    throw new UsageError('a cluster across hosts needs both --span-nodes and --underlay-device');
  }
  const { readFileSync } = await import('node:fs');
  const { parseJoinBundle } = await import('../../local/span/join-bundle.ts');
  return {
    localNodes: nodes.split(',').map((node) => node.trim()),
    underlayDevice: device,
    join: joinFile === undefined ? undefined : parseJoinBundle(readFileSync(joinFile, 'utf8')),
  };
}

function replicasFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const replicas = Number(value);
  if (!Number.isInteger(replicas) || replicas < 1)
    throw new UsageError(
      `--control-plane-replicas: expected a whole number of at least 1, got ${JSON.stringify(value)}`,
    );
  return replicas;
}

async function runDown(argv: string[]): Promise<number> {
  const { values } = parse(argv, { name: { type: 'string' }, all: { type: 'boolean' } });
  const root = stateRoot();
  if (values.all && values.name) throw new UsageError('give --name or --all, not both');
  const names = values.all ? listClusters(root) : [selectCluster(root, values.name)];
  const { down } = await import('../../local/down.ts');
  if (values.all && names.length === 0) process.stdout.write(`no local clusters in ${root}\n`);
  for (const name of names) {
    const started = performance.now();
    const { existed } = await down(root, name, await progress());
    process.stdout.write(
      existed
        ? `cluster ${name} removed (${Math.round(performance.now() - started)} ms)\n`
        : `cluster ${name} does not exist: nothing to remove\n`,
    );
  }
  return 0;
}

async function runStatus(argv: string[]): Promise<number> {
  const { values } = parse(argv, { name: { type: 'string' }, output: { type: 'string', short: 'o' } });
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') throw new UsageError('-o takes table or json');
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  const { buildReport, renderReport } = await import('../../local/report.ts');
  const report = buildReport(cluster, statePaths(clusterDir(root, cluster.name)));
  process.stdout.write(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  return 0;
}

async function runExec(argv: string[]): Promise<number> {
  const separator = argv.indexOf('--');
  if (separator < 0 || separator === argv.length - 1) {
    throw new UsageError('exec needs a command after --: ambit local exec <pod> -- <cmd...>');
  }
  const { values, positionals } = parse(
    argv.slice(0, separator),
    { namespace: { type: 'string', short: 'n' }, name: { type: 'string' } },
    1,
  );
  if (positionals.length !== 1) throw new UsageError('exec needs a pod: ambit local exec <pod> -- <cmd...>');
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  const [{ findPod }, { execInPod }] = await Promise.all([
    import('../../local/pods.ts'),
    import('../../local/exec.ts'),
  ]);
  const pod = findPod(cluster, positionals[0]!, values.namespace);
  const { code } = await execInPod(
    statePaths(clusterDir(root, cluster.name)),
    pod,
    argv.slice(separator + 1),
  );
  return code;
}

async function runPortForward(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { namespace: { type: 'string', short: 'n' }, name: { type: 'string' }, address: { type: 'string' } },
    // The pod and up to 16 mappings.
    17,
  );
  const [podName, ...mappings] = positionals;
  if (podName === undefined || mappings.length === 0)
    throw new UsageError('port-forward needs a pod and a mapping: ambit local port-forward <pod> 8080:80');
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  const [{ findPod }, { startPortForward, parsePortMapping }] = await Promise.all([
    import('../../local/pods.ts'),
    import('../../local/port-forward.ts'),
  ]);
  const parsed = mappings.map(parsePortMapping);
  const pod = findPod(cluster, podName, values.namespace);
  const forwards = [];
  for (const mapping of parsed) {
    const forward = await startPortForward({ netnsPath: pod.netnsPath, mapping, localHost: values.address });
    forwards.push(forward);
    process.stdout.write(`Forwarding from ${forward.address} -> ${pod.uid}:${mapping.podPort}\n`);
  }
  await stopSignal();
  await Promise.all(forwards.map((forward) => forward.close()));
  return 0;
}

async function runLogs(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      namespace: { type: 'string', short: 'n' },
      name: { type: 'string' },
      tail: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
    },
    1,
  );
  if (positionals.length !== 1)
    throw new UsageError('logs needs a target: a pod, a node, a component or supervisor');
  const tail = values.tail === undefined ? undefined : Number(values.tail);
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0))
    throw new UsageError('--tail takes a number of lines');
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  const paths = statePaths(clusterDir(root, cluster.name));
  const { followLogs, printLogs, resolveLogTarget } = await import('../../local/logs.ts');
  const sources = resolveLogTarget(cluster, paths, positionals[0]!, values.namespace);
  const offsets = printLogs(sources, process.stdout, tail);
  if (values.follow) {
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    await followLogs(sources, process.stdout, offsets, stop.signal);
  }
  return 0;
}

async function runLabel(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      namespace: { type: 'string', short: 'n' },
      name: { type: 'string' },
      overwrite: { type: 'boolean' },
    },
    Number.POSITIVE_INFINITY,
  );
  const [{ parseLabelArgs, parseLabelTarget }, { controlRequest }] = await Promise.all([
    import('../../local/labels.ts'),
    import('../../local/supervisor/control.ts'),
  ]);
  const { target, rest } = parseLabelTarget(positionals, values.namespace);
  const edit = parseLabelArgs(rest);
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  const outcome = await controlRequest<LabelOutcome>(
    statePaths(clusterDir(root, cluster.name)),
    cluster.name,
    {
      type: 'label',
      target,
      edit,
      overwrite: values.overwrite ?? false,
    },
  );
  for (const key of outcome.missing) process.stderr.write(`label ${JSON.stringify(key)} not found.\n`);
  process.stdout.write(`${outcome.object} ${outcome.change}\n`);
  if (outcome.error !== undefined)
    process.stderr.write(`ambit local label: ${outcome.object}: ${outcome.error}\n`);
  for (const pod of outcome.pods) {
    if (pod.mesh) process.stdout.write(`pod ${pod.uid}: mesh ${pod.mesh.state}\n`);
  }
  const failed = outcome.pods.filter((pod) => pod.error !== undefined);
  for (const pod of failed) process.stderr.write(`ambit local label: pod ${pod.uid}: ${pod.error}\n`);
  return failed.length > 0 || outcome.error !== undefined ? 1 : 0;
}

async function runScale(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { namespace: { type: 'string', short: 'n' }, name: { type: 'string' }, replicas: { type: 'string' } },
    1,
  );
  const { parseDeploymentRef, parseReplicas, scaleDeployment } = await import('../../local/live/commands.ts');
  const deployment = parseDeploymentRef(positionals[0]);
  const replicas = parseReplicas(values.replicas);
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  await scaleDeployment(cluster, deployment, values.namespace ?? 'default', replicas);
  process.stdout.write(`deployment.apps/${deployment} scaled\n`);
  return 0;
}

async function runRollout(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { namespace: { type: 'string', short: 'n' }, name: { type: 'string' }, timeout: { type: 'string' } },
    2,
  );
  const [action, ref] = positionals;
  if (action !== 'restart' && action !== 'status')
    throw new UsageError(`rollout takes restart or status, got ${JSON.stringify(action ?? '')}`);
  const timeout = values.timeout === undefined ? 300 : Number(values.timeout);
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new UsageError('--timeout takes a number of seconds');
  const { parseDeploymentRef, restartDeployment, watchRollout } = await import(
    '../../local/live/commands.ts'
  );
  const deployment = parseDeploymentRef(ref);
  const namespace = values.namespace ?? 'default';
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  if (action === 'restart') {
    await restartDeployment(cluster, deployment, namespace);
    process.stdout.write(`deployment.apps/${deployment} restarted\n`);
    return 0;
  }
  const paths = statePaths(clusterDir(root, cluster.name));
  const done = await watchRollout(cluster, paths, deployment, namespace, timeout * 1000, (line) =>
    process.stdout.write(`${line}\n`),
  );
  if (!done) process.stderr.write(`error: timed out waiting for the rollout of deployment "${deployment}"\n`);
  return done ? 0 : 1;
}

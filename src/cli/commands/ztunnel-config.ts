/** `ambit ztunnel-config <kind>`: what a node's ztunnel knows and does, read from its admin API. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../core/errors.ts';
import {
  adminGet,
  adminSocketPath,
  CONFIG_KINDS,
  type ConfigKind,
  type ConfigView,
  nodesWithAdminSockets,
  renderConfigTable,
} from '../../ztunnel/index.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';

const USAGE = `Usage: ambit ztunnel-config <${CONFIG_KINDS.join('|')}> [--node N] [--name <cluster>] [-o table|json]
       ambit ztunnel-config <kind> --admin <socket>

Shows what a ztunnel knows (workloads, services, policies), the certificates it holds and the connections it
carries, like istioctl ztunnel-config. Without --node, every node's ztunnel is asked.
  --node N         the node whose ztunnel to ask
  --name <cluster> the local cluster (default: the only one)
  --admin <socket> an admin socket path, instead of looking it up in the cluster's state directory
  -o table|json    output format (default table)
`;

const ENDPOINTS: Record<ConfigKind, string> = {
  workloads: '/workloads',
  services: '/services',
  policies: '/policies',
  certificates: '/certs',
  connections: '/connections',
};

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: {
        node: { type: 'string' },
        name: { type: 'string' },
        admin: { type: 'string' },
        output: { type: 'string', short: 'o', default: 'table' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (printedHelp(values, USAGE)) return 0;
  const [kind, ...extra] = positionals;
  if (!kind || !(CONFIG_KINDS as readonly string[]).includes(kind) || extra.length > 0) {
    throw new UsageError(`expected one of ${CONFIG_KINDS.join(', ')}\n\n${USAGE}`);
  }
  if (values.output !== 'table' && values.output !== 'json') throw new UsageError('-o must be table or json');
  const targets = values.admin
    ? [{ node: values.node ?? 'ztunnel', socket: values.admin }]
    : locate(values.name, values.node);
  const views = await Promise.all(
    targets.map(async ({ node, socket }) => ({
      node,
      view: (await adminGet(socket, ENDPOINTS[kind as ConfigKind])) as ConfigView,
    })),
  );
  if (values.output === 'json') {
    const body = views.length === 1 ? views[0]!.view : Object.fromEntries(views.map((v) => [v.node, v.view]));
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    process.stdout.write(renderConfigTable(kind as ConfigKind, views));
  }
  return 0;
}

function stateRoot(): string {
  return process.env.AMBIT_STATE_DIR || '/run/ambit';
}

function locate(name: string | undefined, node: string | undefined): { node: string; socket: string }[] {
  const root = stateRoot();
  let cluster = name;
  if (cluster === undefined) {
    const clusters = existsSync(root)
      ? readdirSync(root, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name)
      : [];
    if (clusters.length !== 1) {
      throw new UsageError(
        clusters.length === 0
          ? `no local cluster under ${root}; start one with \`ambit local up\` or pass --admin <socket>`
          : `several clusters under ${root} (${clusters.join(', ')}); pick one with --name`,
      );
    }
    cluster = clusters[0]!;
  }
  const dir = join(root, cluster);
  if (node !== undefined) return [{ node, socket: adminSocketPath(dir, node) }];
  const nodes = nodesWithAdminSockets(dir);
  if (nodes.length === 0)
    throw new UsageError(`no ztunnel admin socket in ${join(dir, 'ztunnel')}; is the cluster running?`);
  return nodes.map((n) => ({ node: n, socket: adminSocketPath(dir, n) }));
}

/**
 * The `ambit` subcommands. Each lives in its own module under `commands/`, loaded only when invoked, so that
 * `ambit echo` in a pod does not pay for loading the control plane.
 */
export interface Command {
  /** Runs the command with the arguments after its name; resolves to the process exit status. */
  run(argv: string[]): Promise<number>;
}

export interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  local: {
    summary: 'the local multi-node cluster: up, down, status, exec, logs, label, demo',
    load: () => import('./commands/local.ts'),
  },
  'cluster-dns': {
    summary: "the local cluster's DNS on one node (run by the cluster as a system process)",
    load: () => import('./commands/cluster-dns.ts'),
  },
  'kube-proxy': {
    summary: "the local cluster's Service VIPs and NodePorts on one node (a system process)",
    load: () => import('./commands/kube-proxy.ts'),
  },
  echo: { summary: 'the built-in HTTP and TCP test server', load: () => import('./commands/echo.ts') },
  'trace-collector': {
    summary: 'a small OTLP/HTTP trace receiver that shows traces as trees',
    load: () => import('./commands/trace-collector.ts'),
  },
  app: {
    summary: 'stand-ins for well-known images (httpbin, helloworld, tcp-echo, Bookinfo, curl/sleep)',
    load: () => import('./commands/app.ts'),
  },
  redirect: {
    summary: 'in-pod capture rules (apply, remove, list, render) and a standalone enrollment agent',
    load: () => import('./commands/redirect.ts'),
  },
  install: {
    summary: 'install Ambit on a Kubernetes cluster (or --dry-run: print the manifests)',
    load: () => import('./commands/install.ts'),
  },
  uninstall: {
    summary: 'remove Ambit from a Kubernetes cluster',
    load: () => import('./commands/uninstall.ts'),
  },
  cni: {
    summary: 'the CNI plugin ambit-cni (run by the container runtime, as bin/ambit-cni.mjs)',
    load: () => import('./commands/cni.ts'),
  },
  ztunnel: { summary: "run a node's ztunnel (the data plane)", load: () => import('./commands/ztunnel.ts') },
  waypoint: {
    summary: 'waypoints (L7 proxies): apply, delete, list, status, run',
    load: () => import('./commands/waypoint.ts'),
  },
  'ztunnel-config': {
    summary: "show a node's ztunnel: workloads, services, policies, certificates, connections",
    load: () => import('./commands/ztunnel-config.ts'),
  },
  explain: {
    summary: 'what the mesh does with a connection from a pod to a destination, and why (policies, route)',
    load: () => import('./commands/explain.ts'),
  },
  dashboard: {
    summary: "a live service graph of the local cluster in a browser (from the cluster's Prometheus)",
    load: () => import('./commands/dashboard.ts'),
  },
  authz: {
    summary: 'authz check: the verdict for a source and destination, optionally with policy files on top',
    load: () => import('./commands/authz.ts'),
  },
  version: {
    summary: 'print the version of Ambit and of its runtime',
    load: () => import('./commands/version.ts'),
  },
  control: {
    summary: 'run the control plane (or: control status, control credential)',
    load: () => import('./commands/control.ts'),
  },
  apply: {
    summary: 'validate and apply config to the running control plane',
    load: () => import('./commands/apply.ts'),
  },
  delete: {
    summary: 'delete the config that files define from the control plane',
    load: () => import('./commands/delete.ts'),
  },
  get: { summary: 'show config stored in the control plane', load: () => import('./commands/get.ts') },
  analyze: { summary: 'validate config files offline', load: () => import('./commands/analyze.ts') },
};

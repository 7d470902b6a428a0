/**
 * The control plane's local API: JSON over HTTP on a unix socket (`<state>/control.sock`, mode 0600). The CLI
 * (`ambit apply|delete|get|control status`) and the local cluster's runtime (pod reports) speak it. Types
 * only; the client is `client.ts`, the server lives in the control plane.
 */
import type { ConfigIssue, SourceRef } from '../config/issues.ts';

/** A YAML file sent for apply/delete: its name (for messages) and its text. */
export interface ConfigFile {
  name: string;
  content: string;
}

export interface ApplyRequest {
  files: ConfigFile[];
}

export interface ApplyResult {
  revision: number;
  /** `Kind namespace/name` of each resource, by what happened to it. */
  created: string[];
  configured: string[];
  unchanged: string[];
  /** Warnings (errors refuse the whole apply and come back as an ApiErrorBody). */
  issues: ConfigIssue[];
}

export interface DeleteResult {
  revision: number;
  deleted: string[];
  notFound: string[];
  issues: ConfigIssue[];
}

/** A stored resource as `ambit get` shows it: identity, where it came from, and the document as written. */
export interface StoredResource {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string | undefined;
  source: SourceRef;
  /** `api` for `ambit apply`, or `file:<path>` for a watched config file. */
  origin: string;
  document: unknown;
}

/** A container port, so that Services with a named `targetPort` can be resolved. */
export interface PodPort {
  name?: string | undefined;
  containerPort: number;
  protocol?: 'TCP' | 'UDP' | undefined;
}

/**
 * A running pod as its runtime reports it (the local cluster knows IPs and nodes; on Kubernetes the API
 * server would). Workloads, service endpoints and node authorization for certificates all come from these.
 */
export interface PodInfo {
  /** Defaults to `<namespace>/<name>`. */
  uid?: string | undefined;
  name: string;
  namespace: string;
  node: string;
  ips: string[];
  /** Defaults to `default`. */
  serviceAccount?: string | undefined;
  labels?: Record<string, string> | undefined;
  /** Defaults to true. */
  ready?: boolean | undefined;
  ports?: PodPort[] | undefined;
}

export interface NackStatus {
  version: string;
  message: string;
  at: string;
}

/** One connected data-plane client (a ztunnel or a waypoint) and where its config stands. */
export interface ClientStatus {
  id: string;
  kind: 'ztunnel' | 'waypoint';
  /** The node it authenticated as. */
  node: string;
  /** For a waypoint: `<namespace>/<name>`. */
  waypoint?: string | undefined;
  instance: string;
  peer: string;
  connectedAt: string;
  /** The last version it ACKed, undefined until its first ACK. */
  ackedVersion?: string | undefined;
  /** The newest mesh version whose view it holds in full (it ACKed it, or that version changed nothing of it). */
  syncedVersion?: string | undefined;
  /** True when what it ACKed is what it should have now. */
  inSync: boolean;
  nacks: number;
  lastNack?: NackStatus | undefined;
}

/**
 * Where one data-plane client stands on a rollout: it took the version (`acked`), refused it (`nacked`, with
 * its reason), has not answered yet (`pending`), or was connected when the wait began and is gone (`gone`).
 */
export interface RolloutClient {
  kind: 'ztunnel' | 'waypoint';
  node: string;
  waypoint?: string | undefined;
  state: 'acked' | 'nacked' | 'pending' | 'gone';
  message?: string | undefined;
}

/** What `GET /v1/rollout` answers: the mesh version that carries the revision, and each client on it. */
export interface RolloutReport {
  revision: number;
  version: string;
  /** True when the wait ended at its timeout with clients still pending or gone. */
  timedOut: boolean;
  clients: RolloutClient[];
}

export interface ControlStatus {
  revision: number;
  /** The version of the mesh model last pushed. */
  version: string;
  trustDomain: string;
  grpcAddress: string;
  metricsAddress: string;
  startedAt: string;
  resources: Record<string, number>;
  pods: number;
  clients: ClientStatus[];
  /**
   * This replica's identity and the leader lease's holder (replicas share the state directory; the holder
   * makes the single-writer changes). Absent from control planes older than replicas.
   */
  replica?: { identity: string; leader: string | undefined; leading: boolean } | undefined;
}

export interface ApiErrorBody {
  error: { code: string; message: string; issues?: ConfigIssue[] | undefined };
}

/**
 * An in-test Kubernetes API server: only what Kubernetes documents for the calls Ambit makes, so that the
 * real `@kubernetes/client-node` can be driven against it exactly as against a cluster.
 *
 * - get, list and create of registered resources (core `/api/v1/...` and group `/apis/<g>/<v>/...`, cluster
 *   or namespaced), `metadata.resourceVersion` from one cluster-wide counter, `metadata.uid` on create,
 *   `metadata.generation` 1 on create and one more for each change of `spec`; a Service created without a
 *   cluster IP gets one (10.96.200.x), and a replacement that changes it is refused (422: immutable);
 * - watch (`?watch=true&resourceVersion=N`): the events after N as JSON lines on a chunked response; a
 *   resourceVersion older than the retained history is answered with an ERROR event carrying a 410
 *   `Expired` Status, as etcd compaction makes a real server do; `allowWatchBookmarks=true` gets BOOKMARK
 *   events (only `metadata.resourceVersion` set) when the test calls `bookmark()`;
 * - `labelSelector` on list and watch, equality-based as documented (`k=v`, `k==v`, `k!=v`, `k`, `!k`,
 *   comma-separated, all must hold): a watch sends only matching objects, a change that makes an object
 *   match as ADDED and one that makes it stop matching as DELETED, as the API server's watch cache does;
 * - replace (PUT, with resourceVersion conflicts), delete, and discovery (`/api/v1`, `/apis/<g>/<v>`);
 * - a `create` hook per resource (status conditions on created objects...);
 * - TokenReview for tokens the test mints with `issueToken` (a service account, its audiences, the pod it is
 *   bound to): answered as the API server answers for a bound service-account token, audiences intersected
 *   with the review's, `extra` naming the pod; an unknown token or no common audience is not authenticated.
 *
 * Requests are logged with their bearer token, so a test can tell which client wrote what.
 *
 * What it does not do: authentication, admission, field selectors, set-based label selectors (`in`,
 * `notin`: answered 400), chunked lists (`limit`
 * / `continue`), server-side apply, PATCH, garbage collection of owned objects,
 * finalizers, converting a Secret's `stringData`. A test that needs one of these must not pretend it is covered.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TestCa } from './test-ca.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface ResourceType {
  /** `/api/v1` or `/apis/<group>/<version>`. */
  prefix: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface StoredEvent {
  rv: number;
  type: WatchEventType;
  object: KubeObject;
  /** The object before a MODIFIED event: whether it matched a selector decides the event a watcher gets. */
  previous?: KubeObject | undefined;
}

type LabelMatcher = (object: KubeObject | undefined) => boolean;

/** An equality-based label selector as Kubernetes documents it; throws on what it does not implement. */
export function labelMatcher(selector: string | null): LabelMatcher {
  const requirements = (selector ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part): ((labels: Record<string, string>) => boolean) => {
      const match = /^(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w.-]*))?$/.exec(part);
      if (!match) throw new Error(`unsupported label selector requirement ${JSON.stringify(part)}`);
      const [, not, key, op, value] = match as unknown as [string, string, string, string?, string?];
      if (not && op) throw new Error(`unsupported label selector requirement ${JSON.stringify(part)}`);
      if (not) return (labels) => !(key in labels);
      if (op === undefined) return (labels) => key in labels;
      if (op === '!=') return (labels) => labels[key] !== value;
      return (labels) => labels[key] === value;
    });
  return (object) => {
    if (object === undefined) return false;
    const labels = (object.metadata.labels ?? {}) as Record<string, string>;
    return requirements.every((holds) => holds(labels));
  };
}

/** The event a watcher with `matches` gets for `event`, if any (see the header). */
export function selectedEvent(event: StoredEvent, matches: LabelMatcher): WatchEventType | undefined {
  const now = matches(event.object);
  if (event.type !== 'MODIFIED') return now ? event.type : undefined;
  const before = matches(event.previous);
  if (now) return before ? 'MODIFIED' : 'ADDED';
  return before ? 'DELETED' : undefined;
}

interface Watcher {
  namespace: string | undefined;
  bookmarks: boolean;
  matches: LabelMatcher;
  response: ServerResponse;
}

/** A token `issueToken` minted: whose it is, for which audiences, bound to which pod. */
export interface IssuedToken {
  namespace: string;
  serviceAccount: string;
  audiences: readonly string[];
  pod?: { name: string; uid: string } | undefined;
}

/** The audience a review without `spec.audiences` checks: the API server's own. */
export const API_SERVER_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

/** Hook for POST: returns the object to store (and answer with); `store: false` answers without storing. */
export type CreateHook = (object: KubeObject) => { object: KubeObject; store: boolean };

class Resource {
  readonly type: ResourceType;
  readonly objects = new Map<string, KubeObject>();
  readonly history: StoredEvent[] = [];
  /** Events at or below this resourceVersion are compacted away: a watch from there gets 410. */
  compactedThrough = 0;
  readonly watchers = new Set<Watcher>();
  createHook: CreateHook | undefined;

  constructor(type: ResourceType) {
    this.type = type;
  }
}

const key = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;
const clone = <T>(value: T): T => structuredClone(value);

/** What `ambit install` creates. */
export const INSTALL_RESOURCES: ResourceType[] = [
  { prefix: '/api/v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  { prefix: '/api/v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  { prefix: '/api/v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  { prefix: '/apis/apps/v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  { prefix: '/apis/apps/v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  {
    prefix: '/apis/rbac.authorization.k8s.io/v1',
    plural: 'clusterroles',
    kind: 'ClusterRole',
    namespaced: false,
  },
  {
    prefix: '/apis/rbac.authorization.k8s.io/v1',
    plural: 'clusterrolebindings',
    kind: 'ClusterRoleBinding',
    namespaced: false,
  },
  { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'roles', kind: 'Role', namespaced: true },
  {
    prefix: '/apis/rbac.authorization.k8s.io/v1',
    plural: 'rolebindings',
    kind: 'RoleBinding',
    namespaced: true,
  },
];

/** The Istio and Gateway API kinds the control plane watches. */
export const MESH_RESOURCES: ResourceType[] = [
  {
    prefix: '/apis/networking.istio.io/v1',
    plural: 'virtualservices',
    kind: 'VirtualService',
    namespaced: true,
  },
  {
    prefix: '/apis/networking.istio.io/v1',
    plural: 'destinationrules',
    kind: 'DestinationRule',
    namespaced: true,
  },
  {
    prefix: '/apis/security.istio.io/v1',
    plural: 'authorizationpolicies',
    kind: 'AuthorizationPolicy',
    namespaced: true,
  },
  {
    prefix: '/apis/security.istio.io/v1',
    plural: 'peerauthentications',
    kind: 'PeerAuthentication',
    namespaced: true,
  },
  { prefix: '/apis/gateway.networking.k8s.io/v1', plural: 'gateways', kind: 'Gateway', namespaced: true },
  { prefix: '/apis/gateway.networking.k8s.io/v1', plural: 'httproutes', kind: 'HTTPRoute', namespaced: true },
];

/** What the waypoint controller's leader election uses. */
export const LEASE_RESOURCE: ResourceType = {
  prefix: '/apis/coordination.k8s.io/v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
};

export const CORE_RESOURCES: ResourceType[] = [
  { prefix: '/api/v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { prefix: '/api/v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { prefix: '/api/v1', plural: 'services', kind: 'Service', namespaced: true },
  { prefix: '/api/v1', plural: 'events', kind: 'Event', namespaced: true },
  { prefix: '/apis/discovery.k8s.io/v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  {
    prefix: '/apis/authentication.k8s.io/v1',
    plural: 'tokenreviews',
    kind: 'TokenReview',
    namespaced: false,
  },
];

export class KubeApiServer {
  /** The HTTP server; listen it yourself (e.g. on an fd from inside a netns) or call `listen`. */
  readonly http: Server;
  readonly #resources = new Map<string, Resource>();
  #rv = 100;
  /** Requests by method and path (no query), for tests that check what a client asked. */
  readonly requests: Array<{ method: string; path: string; query: string; token: string }> = [];
  #nextClusterIp = 1;

  readonly #caPem: string;
  readonly #tokens = new Map<string, IssuedToken>();

  /** Serves HTTPS with a certificate for 127.0.0.1 from a CA of its own (the client verifies it, as in a cluster). */
  constructor(types: readonly ResourceType[] = CORE_RESOURCES) {
    for (const type of types) this.#resources.set(`${type.prefix}/${type.plural}`, new Resource(type));
    const ca = new TestCa('in-test kube-apiserver CA');
    const { certPem, keyPem } = ca.issue('kube-apiserver', {
      uris: [],
      dnsNames: ['kubernetes.default.svc'],
      ips: ['127.0.0.1'],
    });
    this.#caPem = ca.certPem;
    this.http = createServer({ cert: certPem, key: keyPem }, (request, response) =>
      this.#handle(request, response),
    );
    if (this.#resources.has('/apis/authentication.k8s.io/v1/tokenreviews')) {
      this.onCreate('/apis/authentication.k8s.io/v1', 'tokenreviews', (review) => ({
        object: { ...review, status: this.#review(review) },
        store: false,
      }));
    }
  }

  /** Mints a service-account token that TokenReview knows (as the kubelet's projected token would be). */
  issueToken(token: IssuedToken): string {
    const value = `test-sa-token.${randomUUID()}`;
    this.#tokens.set(value, token);
    return value;
  }

  #review(review: KubeObject): Record<string, unknown> {
    const spec = (review.spec ?? {}) as { token?: string; audiences?: string[] };
    const issued = spec.token === undefined ? undefined : this.#tokens.get(spec.token);
    if (!issued) return { authenticated: false, error: 'invalid bearer token' };
    const wanted = spec.audiences?.length ? spec.audiences : [API_SERVER_AUDIENCE];
    const audiences = issued.audiences.filter((audience) => wanted.includes(audience));
    if (audiences.length === 0) {
      return {
        authenticated: false,
        error: `token audiences ${JSON.stringify(issued.audiences)} is invalid for the target audiences ${JSON.stringify(wanted)}`,
      };
    }
    const extra = issued.pod
      ? {
          'authentication.kubernetes.io/pod-name': [issued.pod.name],
          'authentication.kubernetes.io/pod-uid': [issued.pod.uid],
        }
      : undefined;
    return {
      authenticated: true,
      audiences,
      user: {
        username: `system:serviceaccount:${issued.namespace}:${issued.serviceAccount}`,
        uid: randomUUID(),
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${issued.namespace}`,
          'system:authenticated',
        ],
        ...(extra ? { extra } : {}),
      },
    };
  }

  /** Listens on loopback (a free port). */
  async listen(options: { host: string; port: number } = { host: '127.0.0.1', port: 0 }) {
    await new Promise<void>((resolve) => this.http.listen(options, resolve));
    return this;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** A kubeconfig for this server (its CA pinned; a bearer token the server does not check). */
  kubeconfig(token = 'test-token'): string {
    const ca = Buffer.from(this.#caPem).toString('base64');
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'test',
          cluster: { server: `https://127.0.0.1:${this.port}`, 'certificate-authority-data': ca },
        },
      ],
      users: [{ name: 'test', user: { token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
      'current-context': 'test',
    });
  }

  onCreate(prefix: string, plural: string, hook: CreateHook): void {
    this.#resource(prefix, plural).createHook = hook;
  }

  /** Creates or replaces an object, as a controller or `kubectl apply` would; returns the stored copy. */
  put(prefix: string, plural: string, object: KubeObject): KubeObject {
    const resource = this.#resource(prefix, plural);
    const name = object.metadata.name!;
    const existing = resource.objects.get(key(object.metadata.namespace, name));
    const stored = clone(object);
    stored.apiVersion ??= prefix === '/api/v1' ? 'v1' : prefix.slice('/apis/'.length);
    stored.kind ??= resource.type.kind;
    stored.metadata.uid = existing?.metadata.uid ?? object.metadata.uid ?? randomUUID();
    const generation = Number(existing?.metadata.generation ?? 0);
    stored.metadata.generation =
      existing && JSON.stringify(existing.spec) === JSON.stringify(stored.spec) ? generation : generation + 1;
    stored.metadata.resourceVersion = String(++this.#rv);
    resource.objects.set(key(stored.metadata.namespace, name), stored);
    this.#record(resource, existing ? 'MODIFIED' : 'ADDED', stored, existing);
    return clone(stored);
  }

  delete(prefix: string, plural: string, namespace: string | undefined, name: string): void {
    const resource = this.#resource(prefix, plural);
    const existing = resource.objects.get(key(namespace, name));
    if (!existing) throw new Error(`no ${plural} ${key(namespace, name)}`);
    resource.objects.delete(key(namespace, name));
    const gone = clone(existing);
    gone.metadata.resourceVersion = String(++this.#rv);
    this.#record(resource, 'DELETED', gone);
  }

  get(prefix: string, plural: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.#resource(prefix, plural).objects.get(key(namespace, name));
    return found && clone(found);
  }

  list(prefix: string, plural: string): KubeObject[] {
    return [...this.#resource(prefix, plural).objects.values()].map(clone);
  }

  /** Forgets the history (as etcd compaction does): a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    for (const resource of this.#resources.values()) {
      resource.history.length = 0;
      resource.compactedThrough = this.#rv;
    }
  }

  /** Sends a BOOKMARK with the current resourceVersion to every watcher that allowed bookmarks. */
  bookmark(): void {
    for (const resource of this.#resources.values()) {
      for (const watcher of resource.watchers) {
        if (!watcher.bookmarks) continue;
        const object = {
          kind: resource.type.kind,
          apiVersion: this.#apiVersion(resource),
          metadata: { resourceVersion: String(this.#rv) },
        };
        watcher.response.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
      }
    }
  }

  /** Ends every open watch (as an API server does at its watch timeout); clients must re-watch. */
  endWatches(): void {
    for (const resource of this.#resources.values()) {
      for (const watcher of resource.watchers) watcher.response.end();
      resource.watchers.clear();
    }
  }

  watcherCount(prefix: string, plural: string): number {
    return this.#resource(prefix, plural).watchers.size;
  }

  async close(): Promise<void> {
    this.endWatches();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  #resource(prefix: string, plural: string): Resource {
    const resource = this.#resources.get(`${prefix}/${plural}`);
    if (!resource) throw new Error(`resource ${prefix}/${plural} is not registered`);
    return resource;
  }

  #apiVersion(resource: Resource): string {
    return resource.type.prefix === '/api/v1' ? 'v1' : resource.type.prefix.slice('/apis/'.length);
  }

  #record(resource: Resource, type: WatchEventType, object: KubeObject, previous?: KubeObject): void {
    const event = { rv: Number(object.metadata.resourceVersion), type, object: clone(object), previous };
    resource.history.push(event);
    for (const watcher of resource.watchers) this.#send(watcher, event);
  }

  /** Writes `event` to the watcher if it is in the watcher's namespace and selection. */
  #send(watcher: Watcher, event: StoredEvent): void {
    if (watcher.namespace !== undefined && watcher.namespace !== event.object.metadata.namespace) return;
    const type = selectedEvent(event, watcher.matches);
    if (type !== undefined) watcher.response.write(`${JSON.stringify({ type, object: event.object })}\n`);
  }

  /** Parses `<prefix>/[namespaces/<ns>/]<plural>[/<name>]` against the registered resources. */
  #route(
    path: string,
  ):
    | { resource: Resource; namespace: string | undefined; name: string | undefined; status?: boolean }
    | undefined {
    for (const resource of this.#resources.values()) {
      const { prefix, plural, namespaced } = resource.type;
      if (!path.startsWith(`${prefix}/`)) continue;
      const rest = path.slice(prefix.length + 1).split('/');
      if (namespaced && rest[0] === 'namespaces' && rest[2] === plural && rest.length <= 4) {
        return { resource, namespace: rest[1], name: rest[3] };
      }
      if (
        namespaced &&
        rest[0] === 'namespaces' &&
        rest[2] === plural &&
        rest.length === 5 &&
        rest[4] === 'status'
      ) {
        return { resource, namespace: rest[1], name: rest[3], status: true };
      }
      if (rest[0] === plural && rest.length <= 2) return { resource, namespace: undefined, name: rest[1] };
    }
    return undefined;
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://kube');
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    this.requests.push({ method: request.method ?? '', path: url.pathname, query: url.search, token });
    const group = this.#discovery(url.pathname);
    if (request.method === 'GET' && group) {
      this.#json(response, 200, group);
      return;
    }
    const route = this.#route(url.pathname);
    if (!route) {
      this.#status(response, 404, 'NotFound', `no resource at ${url.pathname}`);
      return;
    }
    const { resource, namespace, name } = route;
    if (route.status) {
      // The status subresource: only `.status` of the body is taken, as a real server does.
      if (request.method !== 'PUT') {
        this.#status(response, 405, 'MethodNotAllowed', `${request.method} of status is not served here`);
        return;
      }
      void this.#readBody(request).then(
        (body) => {
          const existing = resource.objects.get(key(namespace, name!));
          if (!existing)
            return this.#status(response, 404, 'NotFound', `${resource.type.plural} "${name}" not found`);
          this.#json(
            response,
            200,
            this.put(resource.type.prefix, resource.type.plural, { ...existing, status: body.status }),
          );
        },
        () => this.#status(response, 400, 'BadRequest', 'body is not JSON'),
      );
      return;
    }
    if (request.method === 'GET' && name !== undefined) {
      const found = resource.objects.get(key(namespace, name));
      if (found) this.#json(response, 200, found);
      else this.#status(response, 404, 'NotFound', `${resource.type.plural} "${name}" not found`);
      return;
    }
    let matches: LabelMatcher;
    try {
      matches = labelMatcher(url.searchParams.get('labelSelector'));
    } catch (error) {
      this.#status(response, 400, 'BadRequest', (error as Error).message);
      return;
    }
    if (request.method === 'GET' && url.searchParams.get('watch') === 'true') {
      this.#watch(resource, namespace, url.searchParams, matches, response);
      return;
    }
    if (request.method === 'GET') {
      const items = [...resource.objects.values()].filter(
        (object) => (namespace === undefined || object.metadata.namespace === namespace) && matches(object),
      );
      this.#json(response, 200, {
        apiVersion: this.#apiVersion(resource),
        kind: `${resource.type.kind}List`,
        metadata: { resourceVersion: String(this.#rv) },
        items,
      });
      return;
    }
    if (request.method === 'PUT' && name !== undefined) {
      void this.#readBody(request).then(
        (body) => this.#replace(resource, namespace, name, body, response),
        () => this.#status(response, 400, 'BadRequest', 'body is not JSON'),
      );
      return;
    }
    if (request.method === 'DELETE' && name !== undefined) {
      const found = resource.objects.get(key(namespace, name));
      if (!found) {
        this.#status(response, 404, 'NotFound', `${resource.type.plural} "${name}" not found`);
        return;
      }
      this.delete(resource.type.prefix, resource.type.plural, namespace, name);
      this.#json(response, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name } });
      return;
    }
    if (request.method === 'POST' && name === undefined) {
      void this.#readBody(request).then(
        (body) => this.#create(resource, namespace, body, response),
        () => this.#status(response, 400, 'BadRequest', 'body is not JSON'),
      );
      return;
    }
    this.#status(response, 405, 'MethodNotAllowed', `${request.method} is not served here`);
  }

  #create(
    resource: Resource,
    namespace: string | undefined,
    body: KubeObject,
    response: ServerResponse,
  ): void {
    if (namespace !== undefined) body.metadata = { ...body.metadata, namespace };
    if (resource.type.plural === 'services' && resource.type.prefix === '/api/v1')
      this.#allocateClusterIp(body);
    const hooked = resource.createHook?.(body) ?? { object: body, store: true };
    if (!hooked.store) {
      this.#json(response, 201, hooked.object);
      return;
    }
    const name =
      hooked.object.metadata.name ??
      `${hooked.object.metadata.generateName ?? 'obj-'}${randomUUID().slice(0, 5)}`;
    hooked.object.metadata.name = name;
    if (resource.objects.has(key(hooked.object.metadata.namespace, name))) {
      this.#status(response, 409, 'AlreadyExists', `${resource.type.plural} "${name}" already exists`);
      return;
    }
    this.#json(response, 201, this.put(resource.type.prefix, resource.type.plural, hooked.object));
  }

  /** PUT: replaces the object; a stale `metadata.resourceVersion` is a 409 Conflict, as optimistic locking. */
  #replace(
    resource: Resource,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    response: ServerResponse,
  ): void {
    const existing = resource.objects.get(key(namespace, name));
    if (!existing) {
      this.#status(response, 404, 'NotFound', `${resource.type.plural} "${name}" not found`);
      return;
    }
    const rv = body.metadata?.resourceVersion;
    if (rv !== undefined && rv !== existing.metadata.resourceVersion) {
      this.#status(response, 409, 'Conflict', `the object has been modified (resourceVersion ${rv})`);
      return;
    }
    const spec = (object: KubeObject) => object.spec as { clusterIP?: string } | undefined;
    if (resource.type.plural === 'services' && spec(existing)?.clusterIP !== spec(body)?.clusterIP) {
      this.#status(
        response,
        422,
        'Invalid',
        `Service "${name}" is invalid: spec.clusterIP: field is immutable`,
      );
      return;
    }
    const object = { ...body, metadata: { ...body.metadata, name, namespace } };
    this.#json(response, 200, this.put(resource.type.prefix, resource.type.plural, object));
  }

  /** As the API server's allocator: a ClusterIP Service without an address gets the next free one. */
  #allocateClusterIp(service: KubeObject): void {
    const spec = (service.spec ?? {}) as { type?: string; clusterIP?: string; clusterIPs?: string[] };
    if (spec.type === 'ExternalName' || spec.clusterIP) return;
    const ip = `10.96.200.${this.#nextClusterIp++}`;
    service.spec = { ...spec, clusterIP: ip, clusterIPs: [ip] };
  }

  /** The discovery document of an API group version (`/api/v1`, `/apis/apps/v1`): its resources. */
  #discovery(path: string): object | undefined {
    const resources = [...this.#resources.values()].filter((resource) => resource.type.prefix === path);
    if (resources.length === 0) return undefined;
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: path === '/api/v1' ? 'v1' : path.slice('/apis/'.length),
      resources: resources.map(({ type }) => ({
        name: type.plural,
        singularName: type.kind.toLowerCase(),
        namespaced: type.namespaced,
        kind: type.kind,
        verbs: ['create', 'delete', 'get', 'list', 'update', 'watch'],
      })),
    };
  }

  #watch(
    resource: Resource,
    namespace: string | undefined,
    query: URLSearchParams,
    matches: LabelMatcher,
    response: ServerResponse,
  ): void {
    const from = Number(query.get('resourceVersion') ?? '0');
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // Headers now, as a real server sends them: a client waits for them before it counts the watch as open.
    response.flushHeaders();
    if (from !== 0 && from < resource.compactedThrough) {
      const status = {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'Expired',
        code: 410,
        message: `too old resource version: ${from} (${resource.compactedThrough})`,
      };
      response.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    const watcher: Watcher = {
      namespace,
      bookmarks: query.get('allowWatchBookmarks') === 'true',
      matches,
      response,
    };
    // resourceVersion 0 (or none) means "from any point": the current objects as ADDED, then changes.
    const backlog: StoredEvent[] =
      from === 0
        ? [...resource.objects.values()].map((object) => ({ rv: 0, type: 'ADDED' as const, object }))
        : resource.history.filter((event) => event.rv > from);
    for (const event of backlog) this.#send(watcher, event);
    resource.watchers.add(watcher);
    response.on('close', () => resource.watchers.delete(watcher));
  }

  #readBody(request: IncomingMessage): Promise<KubeObject> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as KubeObject);
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  #json(response: ServerResponse, status: number, body: unknown): void {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }

  #status(response: ServerResponse, code: number, reason: string, message: string): void {
    this.#json(response, code, {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason,
      message,
      code,
    });
  }
}

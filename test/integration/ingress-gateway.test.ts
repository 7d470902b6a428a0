/**
 * The ingress gateway in a real local cluster, reached from the host on 127.0.0.1 through `ambit local
 * port-forward` (the cluster's ranges stay unroutable from the root namespace): the Bookinfo-like fixture
 * (a Gateway of class istio, an HTTPRoute) routes `GET /productpage` to the productpage app over HBONE, and
 * a path the route does not take gets 404; a second Gateway (class ambit) terminates HTTPS with a Secret's
 * certificate for its hostname, passes TLS through by SNI to a TLS server (whose own certificate the client
 * sees) and relays TCP to an echo pod. Both Gateways and their routes report Accepted/Programmed status.
 * A GRPCRoute on the first Gateway's HTTP listener sends a gRPC client's calls from the host (h2c) to two
 * `ambit app grpc-echo` backends by method.
 * Istio's classic Bookinfo gateway (a networking.istio.io Gateway selecting `istio: ingressgateway`, and a
 * VirtualService bound to it) is served by the istio-system/istio-ingressgateway deployment the cluster runs
 * for it, on port 8080 (reached through the cluster file's `spec.portMappings`, and from a mesh pod through
 * the `istio-ingressgateway` Service's port 80, as Istio's chart maps it), through the same engine. JWT at both ingress gateways (last, as it changes what they
 * let in): a RequestAuthentication and a requestPrincipals AuthorizationPolicy selecting the classic
 * gateway's pods, and the same attached by targetRefs to the Gateway API one: a valid token 200, a bad one
 * 401, none 403; a DENY on the istio-waypoint GatewayClass does not reach them. Then mesh-wide policies (in
 * istio-system, no selector, no targetRefs) reach the Gateway API gateway as they reach the classic one, and
 * a Gateway whose listener names a missing Secret is warned about by `analyze`/`apply`, reports
 * `ResolvedRefs=False` (`InvalidCertificateRef`) and programs nothing.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import {
  credentials,
  status as grpcStatus,
  makeGenericClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ECHO_SERVICE,
  ECHO_SERVICE_NAME,
  type EchoReply,
  type EchoRequest,
} from '../../src/apps/grpc-echo.ts';
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import { ambit, killAll, startAmbit } from '../support/cli.ts';
import { clusterDown } from '../support/cluster-lifecycle.ts';
import { eventually } from '../support/eventually.ts';
import { makeStateRoot, uniqueName, writeClusterFile } from '../support/local-cluster.ts';
import {
  clusterDoc,
  deploymentDoc,
  echoPod,
  manifests,
  namespaceDoc,
  podDoc,
  serviceDoc,
} from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { selfSignedCertificate } from '../support/self-signed.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'ingress');

/** A port free on 127.0.0.1 right now (for a cluster-file mapping, which needs a number up front). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A Service of the echo app on port 80, bound to the namespace's waypoint, with `labels`. */
function boundService(name: string, labels: Record<string, string>, app = name): object {
  const service = serviceDoc(name, { app }) as { metadata: { labels?: Record<string, string> } };
  service.metadata.labels = { 'istio.io/use-waypoint': 'waypoint', ...labels };
  return service;
}

interface Status {
  conditions?: { type: string; status: string; reason: string }[];
  parents?: { conditions: { type: string; status: string; reason: string }[] }[];
  listeners?: { name: string; attachedRoutes: number; conditions: { type: string; status: string }[] }[];
}

describe.runIf(canRunNetnsTests())('ingress gateway in a local cluster, reached from 127.0.0.1', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-igw');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const ports = new Map<number, number>();
  let forwards: ReturnType<typeof startAmbit> | undefined;
  let classicHostPort = 0;
  /** A token the JWT case's rules accept (set by that case, used after it). */
  let acceptedToken = '';
  const bookinfoCert = selfSignedCertificate(root, 'bookinfo.example.com');
  const backendCert = selfSignedCertificate(root, 'secure.passthrough.example');

  const status = async (kind: string, object: string) => {
    const result = await run('get', kind, object, '-n', 'default', '-o', 'json', '--name', name);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as { status: Status }).status;
  };
  const curl = (...args: string[]) =>
    execFileSync('curl', ['-s', '-m', '10', ...args], { encoding: 'utf8' }).toString();

  beforeAll(async () => {
    classicHostPort = await freeLoopbackPort();
    const cluster = manifests(
      clusterDoc(name, {
        spec: {
          portMappings: [
            {
              hostPort: classicHostPort,
              pod: 'istio-ingressgateway-0',
              namespace: 'istio-system',
              podPort: 8080,
            },
          ],
        },
      }),
      namespaceDoc('default', { ambient: true }),
      deploymentDoc('productpage', 1, {
        node: 'n2',
        command: ['ambit', 'app', 'bookinfo-productpage', '--port', '9080'],
        ports: { http: 9080 },
      }),
      serviceDoc('productpage', { spec: { ports: [{ name: 'http', port: 9080, targetPort: 9080 }] } }),
      echoPod('echo', { node: 'n1', labels: { app: 'echo' }, tcp: true }),
      serviceDoc('echo', {
        spec: { ports: [{ name: 'tcp-echo', port: 9000, targetPort: 9000, appProtocol: 'tcp' }] },
      }),
      podDoc('tls-backend', {
        node: 'n2',
        labels: { app: 'tls-backend' },
        command: [
          'openssl',
          's_server',
          '-accept',
          '8443',
          '-cert',
          backendCert.cert,
          '-key',
          backendCert.key,
          '-www',
        ],
        ports: { tls: 8443 },
      }),
      serviceDoc('tls-backend', { spec: { ports: [{ name: 'tls', port: 8443, targetPort: 8443 }] } }),
      // A waypoint, and two Services bound to it: one the gateway sends through it, one it does not.
      waypointGateway('waypoint', 'default', 'service'),
      echoPod('echo-l7', { node: 'n2', labels: { app: 'echo-l7' } }),
      boundService('echo-l7', { 'istio.io/ingress-use-waypoint': 'true' }),
      boundService('echo-bound', {}, 'echo-l7'),
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'bound-services' },
        spec: {
          parentRefs: [{ name: 'bookinfo-gateway' }],
          rules: ['echo-l7', 'echo-bound'].map((service) => ({
            matches: [{ path: { type: 'PathPrefix', value: `/${service}` } }],
            backendRefs: [{ name: service, port: 80 }],
          })),
        },
      },
      // Two gRPC backends, and a GRPCRoute on the HTTP listener choosing between them by method.
      ...['hello', 'goodbye'].flatMap((which) => [
        podDoc(`grpc-${which}`, {
          node: which === 'hello' ? 'n1' : 'n2',
          labels: { app: `grpc-${which}` },
          command: ['ambit', 'app', 'grpc-echo', '--port', '50051', '--version', which],
          ports: { grpc: 50051 },
        }),
        serviceDoc(`grpc-${which}`, {
          spec: { ports: [{ name: 'grpc', port: 50051, targetPort: 50051, appProtocol: 'grpc' }] },
        }),
      ]),
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'GRPCRoute',
        metadata: { name: 'echo-methods' },
        spec: {
          parentRefs: [{ name: 'bookinfo-gateway' }],
          rules: [
            ['Hello', 'grpc-hello'],
            ['Goodbye', 'grpc-goodbye'],
          ].map(([method, backend]) => ({
            matches: [{ method: { service: ECHO_SERVICE_NAME, method } }],
            backendRefs: [{ name: backend, port: 50051 }],
          })),
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'bookinfo-cert' },
        type: 'kubernetes.io/tls',
        stringData: {
          'tls.crt': readFileSync(bookinfoCert.cert, 'utf8'),
          'tls.key': readFileSync(bookinfoCert.key, 'utf8'),
        },
      },
    );
    const result = await run(
      'local',
      'up',
      '-f',
      writeClusterFile(root, name, cluster),
      '-f',
      join(FIXTURES, 'bookinfo-gateway.yaml'),
      '-f',
      join(FIXTURES, 'secure-listeners.yaml'),
      '-f',
      join(FIXTURES, 'bookinfo-classic-gateway.yaml'),
    );
    expect(result.code, result.stderr).toBe(0);
    // Both gateways ready (their listeners open) before the host reaches them.
    for (const gateway of ['bookinfo-gateway', 'secure-gateway']) {
      await eventually(
        async () => {
          const found = await status('gateway', gateway);
          return found.conditions?.find((c) => c.type === 'Programmed')?.status === 'True'
            ? found
            : undefined;
        },
        { timeout: 30_000, what: `Gateway ${gateway} to be Programmed` },
      );
    }
    forwards = startAmbit(['local', 'port-forward', 'bookinfo-gateway-0', '--name', name, '0:80'], {
      stateRoot: root,
    });
    const secure = startAmbit(
      ['local', 'port-forward', 'secure-gateway-0', '--name', name, '0:443', '0:8443', '0:9000'],
      { stateRoot: root },
    );
    const read = (child: ReturnType<typeof startAmbit>, count: number) =>
      new Promise<void>((resolve, reject) => {
        let text = '';
        child.child.stdout?.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          for (const match of text.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> \S+:(\d+)/g))
            ports.set(Number(match[2]), Number(match[1]));
          if ([...text.matchAll(/Forwarding from/g)].length >= count) resolve();
        });
        child.done.then((exited) => reject(new Error(`port-forward exited: ${exited.stderr}`)));
      });
    await Promise.all([read(forwards, 1), read(secure, 3)]);
    // The classic gateway is reached through the cluster file's port mapping, opened by the supervisor.
    ports.set(8080, classicHostPort);
  }, 240_000);

  afterAll(async () => {
    killAll();
    await clusterDown(root, name);
  }, 120_000);

  it('routes GET /productpage from 127.0.0.1 through the gateway to productpage, and 404s what no route takes', () => {
    const page = curl(`http://127.0.0.1:${ports.get(80)}/productpage`, '-w', '\n%{http_code}');
    expect(page).toContain('The Comedy of Errors');
    expect(page.trim().endsWith('200')).toBe(true);
    const missing = curl('-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${ports.get(80)}/admin`);
    expect(missing).toBe('404');
  });

  it('serves Istio’s classic Bookinfo gateway on istio-ingressgateway:8080, and 404s what the VirtualService does not route', async () => {
    const base = `http://127.0.0.1:${ports.get(8080)}`;
    // Its listener opens once the deployment's first push arrives.
    await eventually(() => curl('-o', '/dev/null', '-w', '%{http_code}', `${base}/productpage`) === '200', {
      timeout: 30_000,
      what: 'the classic gateway to serve /productpage',
    });
    const page = curl(`${base}/productpage`, '-H', 'host: bookinfo.example', '-w', '\n%{http_code}');
    expect(page).toContain('The Comedy of Errors');
    expect(page.trim().endsWith('200')).toBe(true);
    expect(curl('-o', '/dev/null', '-w', '%{http_code}', `${base}/admin`)).toBe('404');
    // From inside the mesh by the Service name Istio's samples use: istio-ingressgateway's 80 is the pod's 8080.
    await eventually(
      async () =>
        (
          await run(
            ...['local', 'exec', 'echo', '--name', name, '--'],
            ...['curl', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}'],
            'http://istio-ingressgateway.istio-system/productpage',
          )
        ).stdout === '200',
      { timeout: 30_000, what: 'istio-ingressgateway.istio-system:80 from a mesh pod' },
    );
    // Served by the classic deployment's pod: its access log (written to the log file as it comes) says so.
    await eventually(
      async () =>
        (
          await run('local', 'logs', 'istio-ingressgateway-0', '-n', 'istio-system', '--name', name)
        ).stdout.includes('/productpage'),
      { timeout: 10_000, what: "the request in istio-ingressgateway's access log" },
    );
  });

  it('terminates HTTPS with the Secret for its hostname and routes the request', () => {
    const port = ports.get(443)!;
    const resolve = `bookinfo.example.com:${port}:127.0.0.1`;
    const page = curl(
      '--cacert',
      bookinfoCert.cert,
      '--resolve',
      resolve,
      `https://bookinfo.example.com:${port}/productpage`,
    );
    expect(page).toContain('The Comedy of Errors');
    // Another Host on that listener is no route of it.
    const other = curl(
      '-k',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      'host: other.example',
      `https://127.0.0.1:${port}/productpage`,
    );
    expect(other).toBe('404');
  });

  it('passes TLS through by SNI: the client sees the backend’s own certificate', () => {
    const port = ports.get(8443)!;
    const resolve = `secure.passthrough.example:${port}:127.0.0.1`;
    const page = curl(
      '--cacert',
      backendCert.cert,
      '--resolve',
      resolve,
      `https://secure.passthrough.example:${port}/`,
    );
    expect(page).toContain('s_server');
    // An SNI no TLSRoute takes is refused (the connection closed, no handshake).
    expect(() =>
      execFileSync('curl', [
        '-s',
        '-m',
        '5',
        '-k',
        '--resolve',
        `other.passthrough.example:${port}:127.0.0.1`,
        `https://other.passthrough.example:${port}/`,
      ]),
    ).toThrow();
  });

  it('relays TCP through a TCPRoute to the echo pod', () => {
    const port = ports.get(9000)!;
    const reply = execFileSync(
      'bash',
      ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}; printf 'hello ingress\\n' >&3; timeout 5 head -c 14 <&3`],
      {
        encoding: 'utf8',
      },
    );
    expect(reply).toContain('hello ingress');
  });

  it('sends a Service labelled istio.io/ingress-use-waypoint through its waypoint, and no bound one around it', async () => {
    const base = `http://127.0.0.1:${ports.get(80)}`;
    await eventually(
      () => curl('-o', '/dev/null', '-w', '%{http_code}', `${base}/echo-l7/through`) === '200',
      { timeout: 30_000, what: 'the waypoint to serve echo-l7' },
    );
    const log = await run('local', 'logs', 'waypoint-0', '--name', name);
    expect(log.stdout).toContain('/echo-l7/through');
    // Bound to the waypoint but not labelled: the gateway goes straight to the pod, whose ztunnel refuses
    // everyone but the waypoint for that port (fail closed), so the gateway answers 503.
    expect(curl('-o', '/dev/null', '-w', '%{http_code}', `${base}/echo-bound/direct`)).toBe('503');
    expect((await run('local', 'logs', 'waypoint-0', '--name', name)).stdout).not.toContain(
      '/echo-bound/direct',
    );
  });

  it('routes gRPC from 127.0.0.1 by method through a GRPCRoute: Hello to one backend, Goodbye to the other', async () => {
    const EchoClient = makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
    const client = new EchoClient(`127.0.0.1:${ports.get(80)}`, credentials.createInsecure());
    const call = (method: 'Hello' | 'Goodbye') =>
      new Promise<EchoReply>((resolve, reject) =>
        (
          client[method] as (
            request: EchoRequest,
            callback: (error: ServiceError | null, reply: EchoReply) => void,
          ) => void
        ).call(client, { message: `via ingress ${method}` }, (error, reply) =>
          error ? reject(error) : resolve(reply),
        ),
      );
    try {
      expect(await call('Hello')).toEqual({
        method: 'Hello',
        version: 'hello',
        pod: 'grpc-hello',
        message: 'via ingress Hello',
      });
      expect(await call('Goodbye')).toMatchObject({
        method: 'Goodbye',
        version: 'goodbye',
        pod: 'grpc-goodbye',
      });
      // A method no rule matches: the gateway's own 404, as a gRPC status the client reads (trailers-only).
      const unrouted = await new Promise<ServiceError | null>((resolve) =>
        client.makeUnaryRequest(
          `/${ECHO_SERVICE_NAME}/Unrouted`,
          ECHO_SERVICE.Hello!.requestSerialize,
          ECHO_SERVICE.Hello!.responseDeserialize,
          { message: 'nowhere' },
          (error) => resolve(error),
        ),
      );
      expect(unrouted?.code).toBe(grpcStatus.UNIMPLEMENTED);
    } finally {
      client.close();
    }
    const route = await status('grpcroute', 'echo-methods');
    expect(route.parents?.[0]?.conditions.map((c) => [c.type, c.status])).toEqual([
      ['Accepted', 'True'],
      ['ResolvedRefs', 'True'],
    ]);
  });

  it('reports Accepted and Programmed on the Gateways, listeners and routes', async () => {
    const secure = await status('gateway', 'secure-gateway');
    expect(secure.listeners?.map((l) => [l.name, l.attachedRoutes])).toEqual([
      ['https', 1],
      ['tls', 1],
      ['tcp', 1],
    ]);
    for (const listener of secure.listeners ?? [])
      expect(listener.conditions.find((c) => c.type === 'Programmed')?.status).toBe('True');
    for (const [kind, route] of [
      ['httproute', 'bookinfo'],
      ['tlsroute', 'passthrough'],
      ['tcproute', 'echo-tcp'],
    ] as const) {
      const found = await status(kind, route);
      expect(found.parents?.[0]?.conditions.map((c) => [c.type, c.status])).toEqual([
        ['Accepted', 'True'],
        ['ResolvedRefs', 'True'],
      ]);
    }
  });

  it('JWT at the ingress: a valid token 200, a bad one 401, none 403, on both kinds of gateway', async () => {
    const issuer = 'https://issuer.ingress.example';
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwks = JSON.stringify({
      keys: [{ ...(await exportJWK(publicKey)), kid: 'run-key', alg: 'ES256' }],
    });
    const token = (key = privateKey) =>
      new SignJWT({ groups: ['users'] })
        .setProtectedHeader({ alg: 'ES256', kid: 'run-key' })
        .setIssuer(issuer)
        .setSubject('alice')
        .setExpirationTime('10m')
        .sign(key);
    const rules = (attach: string, namespace: string, name: string) => `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  ${attach}
  jwtRules: [{issuer: "${issuer}", jwks: '${jwks}'}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  ${attach}
  rules: [{from: [{source: {requestPrincipals: ["${issuer}/*"]}}]}]
`;
    const file = writeClusterFile(
      root,
      'ingress-jwt',
      [
        rules('selector: {matchLabels: {istio: ingressgateway}}', 'istio-system', 'classic-jwt'),
        rules(
          'targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: bookinfo-gateway}]',
          'default',
          'api-jwt',
        ),
        // Istio attaches GatewayClass policies to waypoints only: this one must not refuse ingress traffic.
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: waypoints-deny-productpage, namespace: istio-system}
spec:
  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]
  action: DENY
  rules: [{to: [{operation: {paths: [/productpage]}}]}]
`,
      ].join('---\n'),
    );
    const applied = await run('apply', '-f', file, '--name', name);
    expect(applied.code, applied.stderr).toBe(0);
    const valid = await token();
    acceptedToken = valid;
    const forged = await token((await generateKeyPair('ES256')).privateKey);
    for (const port of [ports.get(8080)!, ports.get(80)!]) {
      const code = (...headers: string[]) =>
        curl('-o', '/dev/null', '-w', '%{http_code}', ...headers, `http://127.0.0.1:${port}/productpage`);
      await eventually(() => code() === '403', { timeout: 30_000, what: `port ${port} to ask for a token` });
      expect(code('-H', `authorization: Bearer ${valid}`)).toBe('200');
      expect(code('-H', `authorization: Bearer ${forged}`)).toBe('401');
      expect(code('-H', 'authorization: Bearer not-a-jwt')).toBe('401');
      expect(code()).toBe('403');
    }
  });

  it('applies mesh-wide policies (root namespace, no selector, no targetRefs) at the Gateway API gateway', async () => {
    // After the JWT case: the gateway still asks for a token of that case's issuer (ALLOW by requestPrincipals).
    expect(acceptedToken).not.toBe('');
    const issuer = 'https://mesh-wide.ingress.example';
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwks = JSON.stringify({
      keys: [{ ...(await exportJWK(publicKey)), kid: 'mesh-key', alg: 'ES256' }],
    });
    const token = (key = privateKey) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'mesh-key' })
        .setIssuer(issuer)
        .setSubject('bob')
        .setExpirationTime('10m')
        .sign(key);
    const valid = await token();
    const forged = await token((await generateKeyPair('ES256')).privateKey);
    const code = (path: string, bearer: string) =>
      curl(
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-H',
        `authorization: Bearer ${bearer}`,
        `http://127.0.0.1:${ports.get(80)}${path}`,
      );
    // No rule knows this issuer yet: its token is refused as one of an issuer not configured.
    expect(code('/productpage', valid)).toBe('401');
    expect(code('/productpage', acceptedToken)).toBe('200');
    // A DENY only for the gateway's listener port 80 (no mesh pod serves on 80, so the ztunnels' L4 share of
    // it, which keeps the port, denies nothing), and a RequestAuthentication for the new issuer.
    const file = writeClusterFile(
      root,
      'ingress-mesh-wide',
      `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: mesh-wide-jwt, namespace: istio-system}
spec:
  jwtRules: [{issuer: "${issuer}", jwks: '${jwks}'}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-wide-deny, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {ports: ["80"], paths: [/productpage]}}]}]
`,
    );
    const applied = await run('apply', '-f', file, '--name', name);
    expect(applied.code, applied.stderr).toBe(0);
    // Verified now (the JWT case's ALLOW still wants its own issuer: 403), a forged one still 401.
    await eventually(() => code('/productpage', valid) === '403', {
      timeout: 30_000,
      what: 'the mesh-wide RequestAuthentication at the gateway',
    });
    expect(code('/productpage', forged)).toBe('401');
    // The DENY reaches the gateway for its path only.
    expect(code('/productpage', acceptedToken)).toBe('403');
    expect(code('/echo-l7', acceptedToken)).toBe('200');
  });

  it('warns about a listener whose certificateRefs name a missing Secret, reports InvalidCertificateRef and serves nothing', async () => {
    const file = writeClusterFile(
      root,
      'ingress-missing-secret',
      `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: unsecured-gateway}
spec:
  gatewayClassName: ambit
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: missing.example.com
    tls: {mode: Terminate, certificateRefs: [{name: no-such-secret}]}
`,
    );
    const analyzed = await run('analyze', '-f', file);
    expect(analyzed.code, analyzed.stderr).toBe(0);
    const said = `${analyzed.stdout}${analyzed.stderr}`;
    expect(said).toMatch(
      /unsecured-gateway.*ResolvedRefs InvalidCertificateRef: Secret default\/no-such-secret does not exist/,
    );
    const applied = await run('apply', '-f', file, '--name', name);
    expect(applied.code, applied.stderr).toBe(0);
    expect(`${applied.stdout}${applied.stderr}`).toMatch(
      /warning: .*unsecured-gateway.*InvalidCertificateRef/,
    );
    // Once its instance runs, the Gateway says that no listener could be programmed (nothing listens).
    const found = await eventually(
      async () => {
        const current = await status('gateway', 'unsecured-gateway');
        return current.conditions?.find((c) => c.type === 'Programmed')?.reason === 'Invalid'
          ? current
          : undefined;
      },
      { timeout: 60_000, what: 'the unsecured Gateway to report its listener' },
    );
    expect(found.listeners?.[0]?.conditions.map((c) => [c.type, c.status])).toEqual([
      ['Accepted', 'True'],
      ['ResolvedRefs', 'False'],
      ['Programmed', 'False'],
    ]);
    expect(found.listeners?.[0]?.conditions[1]).toMatchObject({ reason: 'InvalidCertificateRef' });
  });
});

/**
 * One attempt of a probe, from inside the pod's network namespace, as the kubelet makes it: `httpGet`
 * (success: status 200-399), `tcpSocket` (the connection opens), `exec` (exit status 0, run in the pod as
 * `ambit local exec` runs commands) and `grpc` (grpc.health.v1 Check answers SERVING). Sockets are created
 * in the pod's namespace with the netns-socket helpers (never by wrapping Node's own calls in setns); the gRPC
 * client (@grpc/grpc-js) reaches the pod through a private unix socket whose connections are piped to one.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../../core/errors.ts';
import { HEALTH_SERVING, type HealthCheckResponseMessage, healthService } from '../../core/grpc/protos.ts';
import { connectTcp, type Netns, startTcpConnect } from '../../core/sys/netns-socket.ts';
import { netnsCommand } from '../processes.ts';
import type { ProbeRecord, ProcessSpec } from '../types.ts';

export interface ProbeOutcome {
  ok: boolean;
  /** What was seen: `HTTP 503`, `connect ECONNREFUSED`, `exit 1: <last line>`, `NOT_SERVING`... */
  detail: string;
}

export interface ProbeContext {
  netns: Netns;
  spec: ProcessSpec;
  /** A private directory (0700) for the gRPC probe's unix sockets. */
  socketDir: string;
}

/** Longest output of an exec probe kept for the message (the kubelet keeps 10 KiB). */
const MAX_EXEC_OUTPUT = 10 * 1024;
let socketCounter = 0;

export async function runProbe(probe: ProbeRecord, context: ProbeContext): Promise<ProbeOutcome> {
  const timeoutMs = probe.timeoutSeconds * 1000;
  const handler = probe.handler;
  try {
    switch (handler.type) {
      case 'httpGet':
        return await httpProbe(handler, context.netns, timeoutMs);
      case 'tcpSocket': {
        const socket = await connectTcp(context.netns, {
          address: handler.host,
          port: handler.port,
          timeoutMs,
        });
        socket.destroy();
        return { ok: true, detail: `connected to ${handler.host}:${handler.port}` };
      }
      case 'exec':
        return await execProbe(handler.command, context.spec, timeoutMs);
      case 'grpc':
        return await grpcProbe(handler, context, timeoutMs);
    }
  } catch (error) {
    return { ok: false, detail: errorMessage(error) };
  }
}

function httpProbe(
  handler: Extract<ProbeRecord['handler'], { type: 'httpGet' }>,
  netns: Netns,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.33', accept: '*/*' };
    for (const header of handler.headers) headers[header.name.toLowerCase()] = header.value;
    const request = http.request({
      method: 'GET',
      host: handler.host,
      port: handler.port,
      path: handler.path,
      headers,
      createConnection: () => {
        const socket = startTcpConnect(netns, { address: handler.host, port: handler.port });
        // HTTPS probes do not verify the certificate, as the kubelet does not.
        return handler.scheme === 'HTTPS'
          ? tls.connect({ socket, rejectUnauthorized: false, servername: undefined })
          : socket;
      },
    });
    const timer = setTimeout(() => {
      request.destroy(new Error(`timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    request.on('response', (response) => {
      response.resume();
      clearTimeout(timer);
      const status = response.statusCode ?? 0;
      request.destroy();
      resolve({ ok: status >= 200 && status < 400, detail: `HTTP ${status} from ${handler.path}` });
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `GET ${handler.path}: ${errorMessage(error)}` });
    });
    request.end();
  });
}

function execProbe(command: readonly string[], spec: ProcessSpec, timeoutMs: number): Promise<ProbeOutcome> {
  const [program, ...args] = netnsCommand(
    spec.netns,
    spec.runAsUser,
    spec.runAsGroup,
    command,
    spec.prologue,
  );
  return new Promise((resolve) => {
    const child = spawn(program!, args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      if (output.length < MAX_EXEC_OUTPUT) output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `cannot run ${command[0]}: ${errorMessage(error)}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = output.trim().split('\n').pop() ?? '';
      if (timedOut) resolve({ ok: false, detail: `${command[0]} timed out after ${timeoutMs} ms` });
      else
        resolve({
          ok: code === 0,
          detail: `${command[0]} exited ${code ?? signal}${last ? `: ${last}` : ''}`,
        });
    });
  });
}

async function grpcProbe(
  handler: Extract<ProbeRecord['handler'], { type: 'grpc' }>,
  context: ProbeContext,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  mkdirSync(context.socketDir, { recursive: true, mode: 0o700 });
  const path = join(context.socketDir, `grpc-${process.pid}-${socketCounter++}.sock`);
  const bridge = net.createServer((local) => {
    const remote = startTcpConnect(context.netns, { address: handler.host, port: handler.port });
    local.pipe(remote).pipe(local);
    const close = () => {
      local.destroy();
      remote.destroy();
    };
    local.on('error', close);
    remote.on('error', close);
    local.on('close', close);
    remote.on('close', close);
  });
  await new Promise<void>((resolve, reject) => {
    bridge.once('error', reject);
    bridge.listen(path, () => resolve());
  });
  const Client = grpc.makeGenericClientConstructor(healthService(), 'Health');
  const client = new Client(`unix://${path}`, grpc.credentials.createInsecure());
  try {
    const response = await new Promise<HealthCheckResponseMessage>((resolve, reject) => {
      (
        client as unknown as {
          check: (
            request: { service: string },
            options: grpc.CallOptions,
            callback: (error: grpc.ServiceError | null, response: HealthCheckResponseMessage) => void,
          ) => void;
        }
      ).check({ service: handler.service }, { deadline: Date.now() + timeoutMs }, (error, value) =>
        error ? reject(new Error(`grpc.health.v1 Check: ${error.details || error.message}`)) : resolve(value),
      );
    });
    const serving = response.status === HEALTH_SERVING;
    return { ok: serving, detail: `grpc.health.v1 status ${serving ? 'SERVING' : response.status}` };
  } finally {
    client.close();
    bridge.close();
    rmSync(path, { force: true });
  }
}

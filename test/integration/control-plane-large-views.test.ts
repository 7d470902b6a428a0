/**
 * Issue 18: a view larger than one message travels in bounded chunks. A real control plane with 6,000
 * workloads (a snapshot of well over a megabyte) and two real clients over gRPC/TLS: a raw stream sees the
 * first response split into chunks of at most `PUSH_CHUNK_BYTES` of resources, all flagged `more` but the
 * last; the data plane's own discovery client assembles the whole view, ACKs it, and then receives a
 * one-pod change as one small response.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.ts';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import type { PodInfo } from '../../src/core/control-api/types.ts';
import { PUSH_CHUNK_BYTES } from '../../src/core/discovery/chunks.ts';
import { type AppliedTiming, ztunnelDiscovery } from '../../src/core/discovery/client.ts';
import { controlPlaneChannelOptions, controlPlaneCredentials } from '../../src/core/grpc/credentials.ts';
import {
  type DiscoveryRequestMessage,
  type DiscoveryResponseMessage,
  discoveryService,
} from '../../src/core/grpc/protos.ts';
import { createNodeCredential } from '../../src/core/node-credentials.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import { nodeConnection } from '../support/node-connection.ts';

const PODS = 6000;
const NODES = 3;

const pod = (i: number, labels: Record<string, string> = {}): PodInfo => ({
  name: `pod-${i}`,
  namespace: 'big',
  node: `node-${i % NODES}`,
  ips: [`10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`],
  serviceAccount: `sa-${i % 20}`,
  labels: { app: `app-${i % 20}`, ...labels },
});

describe('a view larger than one message', () => {
  const state = mkdtempSync(join(tmpdir(), 'ambit-large-views-'));
  let plane: ControlPlane;

  beforeAll(async () => {
    quietLogs();
    plane = await ControlPlane.start({ stateDir: state, listen: '127.0.0.1:0', metricsPort: 0 });
    const api = new ControlApiClient(plane.paths.socket);
    await api.apply([
      {
        name: 'big.yaml',
        content:
          'apiVersion: v1\nkind: Namespace\nmetadata: {name: big, labels: {istio.io/dataplane-mode: ambient}}\n',
      },
    ]);
    for (let node = 0; node < NODES; node++) {
      const pods = Array.from({ length: PODS }, (_, i) => i).filter((i) => i % NODES === node);
      await api.syncNodePods(
        `node-${node}`,
        pods.map((i) => pod(i)),
      );
    }
    // Every node's credential before any client connects: the control plane rereads them at most once a second.
    for (let node = 0; node < NODES; node++) createNodeCredential(state, `node-${node}`);
    // The mesh with every pod is published (debounced) before the tests look at pushes.
    const probe = ztunnelDiscovery({ connection: connection('node-0'), node: 'node-0' }).start();
    try {
      await eventually(() => (probe.current()?.workloads.length === PODS ? true : undefined), {
        what: 'the published mesh with every pod',
        timeout: 60_000,
      });
    } finally {
      probe.close();
    }
  }, 120_000);

  afterAll(async () => {
    await plane?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  const connection = (node: string) => nodeConnection(plane, state, node);

  it('arrives in bounded chunks, all but the last flagged more, with one version and nonce', async () => {
    const credentials = connection('node-1');
    const client = new Client(
      credentials.address,
      controlPlaneCredentials(credentials),
      controlPlaneChannelOptions(),
    );
    const method = discoveryService().Stream!;
    const stream = client.makeBidiStreamRequest<DiscoveryRequestMessage, DiscoveryResponseMessage>(
      method.path,
      method.requestSerialize as (value: DiscoveryRequestMessage) => Buffer,
      method.responseDeserialize as (bytes: Buffer) => DiscoveryResponseMessage,
    );
    stream.on('error', () => {});
    const chunks: DiscoveryResponseMessage[] = [];
    const complete = new Promise<void>((resolve) => {
      stream.on('data', (response: DiscoveryResponseMessage) => {
        chunks.push(response);
        if (!response.more) resolve();
      });
    });
    stream.write({
      subscriber: {
        kind: 'ztunnel',
        node: 'node-1',
        waypointName: '',
        waypointNamespace: '',
        instance: 'test',
      },
      initialResources: [],
    });
    try {
      await complete;
      const sizes = chunks.map((chunk) => chunk.resources.reduce((sum, r) => sum + r.body.length, 0));
      expect(chunks.length).toBeGreaterThan(1);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(PUSH_CHUNK_BYTES);
      expect(chunks.map((chunk) => chunk.more)).toEqual([...chunks.slice(1).map(() => true), false]);
      expect(new Set(chunks.map((chunk) => `${chunk.version} ${chunk.nonce}`)).size).toBe(1);
      const workloads = chunks.flatMap((chunk) => chunk.resources).filter((r) => r.type === 'workload');
      expect(workloads.length).toBe(PODS);
      // Each once: node-1's own workloads in full, and none of them also in its shared remote form.
      expect(new Set(workloads.map((r) => r.name)).size).toBe(PODS);
      const own = workloads.filter((r) => JSON.parse(r.body.toString()).node === 'node-1');
      expect(own.length).toBe(PODS / NODES);
      expect(own.every((r) => JSON.parse(r.body.toString()).labels?.app !== undefined)).toBe(true);
    } finally {
      stream.cancel();
      client.close();
    }
  });

  it("the data plane's client assembles the whole view, ACKs it, then takes a one-pod change", async () => {
    const applied: AppliedTiming[] = [];
    const client = ztunnelDiscovery({
      connection: connection('node-2'),
      node: 'node-2',
      onApplied: (timing) => applied.push(timing),
    }).start();
    try {
      const snapshot = await client.ready(60_000);
      expect(snapshot.workloads.length).toBe(PODS);
      // Timed from its first chunk's arrival to its ACK.
      expect(applied.map((timing) => timing.version)).toEqual([snapshot.version]);
      expect(applied[0]!.appliedAt).toBeGreaterThanOrEqual(applied[0]!.receivedAt);
      await eventually(
        () => plane.status().clients.find((c) => c.node === 'node-2' && c.inSync && c.nacks === 0),
        { what: 'node-2 in sync without a NACK' },
      );
      await new ControlApiClient(plane.paths.socket).reportPod(pod(7, { version: 'v2' }));
      const changed = await eventually(
        () =>
          // pod-7 is on node-1: node-2 gets its remote form, whose revision follows its version label.
          client.current()?.workloads.find((w) => w.name === 'pod-7' && w.canonicalRevision === 'v2'),
        { what: 'the relabelled pod at node-2' },
      );
      expect(changed.node).toBe('node-1');
      const later = await eventually(
        () => applied.find((timing) => Number(timing.version) > Number(snapshot.version)),
        { what: 'the change timed as applied' },
      );
      expect(later.appliedAt).toBeGreaterThanOrEqual(later.receivedAt);
      expect(client.current()?.workloads.length).toBe(PODS);
    } finally {
      client.close();
    }
  });
});

/**
 * prom-client's metric classes, loaded from their own modules rather than the package's entry point: that
 * also loads its Pushgateway (node:http, node:https, node:zlib), its default process metrics (perf_hooks, v8),
 * its cluster aggregator and OpenTelemetry's API, which no Ambit process uses: 10 MiB of RSS in a bare Node 24
 * process with node:tls loaded (65 against 55 MiB), about 2 MiB of the bench ztunnel's idle RSS (75 against
 * 77 MiB, where other modules already pulled in part of it). Types come from the package as usual.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry.js') as typeof PromClient.Registry;
export type Registry = PromClient.Registry;
export const Counter = require('prom-client/lib/counter.js') as typeof PromClient.Counter;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Gauge = require('prom-client/lib/gauge.js') as typeof PromClient.Gauge;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;

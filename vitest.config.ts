import { defineConfig } from 'vitest/config';

// Unit tests run in parallel; integration tests build real network namespaces and processes, so they run
// one file at a time (2-core machines) with generous timeouts.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          // Loopback interop of the HBONE framer with node:http2 and Rust's h2 (test/interop/rust-hbone-peer).
          name: 'interop',
          include: ['test/interop/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          // The ztunnel's data-path suites again on node:http2, the reference HTTP/2 (the framer is the default),
          // so both implementations stay proven.
          name: 'integration-node-http2',
          include: [
            'test/integration/ztunnel-dataplane.test.ts',
            'test/integration/ztunnel-robustness.test.ts',
            'test/integration/ztunnel-waypoint.test.ts',
            'test/integration/hbone-drain.test.ts',
          ],
          env: { AMBIT_HBONE_IMPL: 'node-http2' },
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          // Issue 8's attack and fault suite: hostile peers against every listener while a healthy loop runs.
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});

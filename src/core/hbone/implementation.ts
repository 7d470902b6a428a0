/**
 * Which HTTP/2 implementation carries HBONE: `framer`, our own (src/core/hbone/h2: DATA frames up to the
 * peer's frame size, one TLS write per frame), the default, or `node-http2`, Node's nghttp2 binding, kept as
 * the fallback and as the reference in tests. Chosen per process: `--hbone-impl` on
 * `ambit ztunnel`, or `AMBIT_HBONE_IMPL` in the environment (what benchmarks and the local cluster pass on).
 */
import { UsageError } from '../errors.ts';

export const HBONE_IMPLEMENTATIONS = ['framer', 'node-http2'] as const;
export type HboneImplementation = (typeof HBONE_IMPLEMENTATIONS)[number];

/**
 * `value` (a flag or the environment) as an implementation; unset means `framer`. It is the default since it
 * won on CPU, bulk and latency in the same run (bench/hbone-throughput.ts, loopback, compiled ztunnels, 3
 * interleaved repetitions, medians): 2.30 vs 5.24 s of proxy CPU per GiB (stunnel 2.59), 31 vs 43 ms per 1000
 * requests, bulk 234 vs 123 MiB/s on 1 stream and 212 vs 104 on 8, added 1-connection p50 +63 vs +90 us
 * (interleaved rounds +76 vs +85; stunnel +54), 1-connection p99 325 vs 2979 us. The run before it had the
 * framer ahead on CPU and bulk too, and on the repetitions' p50 (86 vs 104 us), but behind in the interleaved
 * rounds (+99 vs +79 us). `node-http2` stays selectable and is the reference in tests.
 */
export function parseHboneImplementation(
  value: string | undefined = process.env.AMBIT_HBONE_IMPL,
): HboneImplementation {
  if (value === undefined || value === '') return 'framer';
  const known = HBONE_IMPLEMENTATIONS.find((name) => name === value);
  if (!known) {
    throw new UsageError(
      `unknown HBONE implementation ${JSON.stringify(value)}: use ${HBONE_IMPLEMENTATIONS.join(' or ')}`,
    );
  }
  return known;
}

/**
 * Which HTTP/2 implementation carries HBONE: `framer`, our own (src/core/hbone/h2: DATA frames up to the
 * peer's frame size, one TLS write per frame), or `node-http2`, Node's nghttp2 binding, kept as the fallback
 * and as the reference in tests until the framer has proven itself. Chosen per process: `--hbone-impl` on
 * `ambit ztunnel`, or `AMBIT_HBONE_IMPL` in the environment (what benchmarks and the local cluster pass on).
 */
import { UsageError } from '../errors.ts';

export const HBONE_IMPLEMENTATIONS = ['framer', 'node-http2'] as const;
export type HboneImplementation = (typeof HBONE_IMPLEMENTATIONS)[number];

/**
 * `value` (a flag or the environment) as an implementation; unset means `node-http2`. The framer is
 * interoperable (node:http2 and Rust's h2, both ways) and, since its data path allocates nothing per frame
 * or read, cheaper: on loopback (bench/hbone-throughput.ts, one run, 3 interleaved repetitions) 2.85 vs 5.40 s
 * of proxy CPU per GiB (stunnel 3.83 s) and 35 vs 68 ms per 1000 requests (two more runs: 3.44 vs 6.41 and
 * 3.71 vs 5.24 s/GiB). But its added 1-connection p50 was about 20 us above node:http2's in two runs of three
 * (+106 vs +88, +108 vs +87 us; the third +90 vs +159), so the proven implementation stays the default and the
 * framer is opt-in (CI runs the ztunnel data-path suites on both).
 */
export function parseHboneImplementation(
  value: string | undefined = process.env.AMBIT_HBONE_IMPL,
): HboneImplementation {
  if (value === undefined || value === '') return 'node-http2';
  const known = HBONE_IMPLEMENTATIONS.find((name) => name === value);
  if (!known) {
    throw new UsageError(
      `unknown HBONE implementation ${JSON.stringify(value)}: use ${HBONE_IMPLEMENTATIONS.join(' or ')}`,
    );
  }
  return known;
}

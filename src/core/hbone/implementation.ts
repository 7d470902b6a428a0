/**
 * Which HTTP/2 implementation carries HBONE: `framer`, our own (src/core/hbone/h2: DATA frames up to the
 * peer's frame size, one TLS write per frame), or `node-http2`, Node's nghttp2 binding, kept as the fallback
 * and as the reference in tests until the framer has proven itself. Chosen per process: `--hbone-impl` on
 * `ambit ztunnel`, or `AMBIT_HBONE_IMPL` in the environment (what benchmarks and the local cluster pass on).
 */
import { UsageError } from '../errors.ts';

export const HBONE_IMPLEMENTATIONS = ['framer', 'node-http2'] as const;
export type HboneImplementation = (typeof HBONE_IMPLEMENTATIONS)[number];

/** `value` (a flag or the environment) as an implementation; unset means the framer. */
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

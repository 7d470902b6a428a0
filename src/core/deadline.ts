/** A deadline for a call that has none of its own. */
import { AmbitError } from './errors.ts';

/** Rejects with UNAVAILABLE when `work` does not settle within `ms` (the client has no per-call deadline). */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AmbitError('UNAVAILABLE', `${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

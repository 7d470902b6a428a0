/**
 * The one way tests wait for something: poll a check until it holds, or fail naming what was awaited (and the
 * check's last error). Condition-based waiting, never a timed assertion: the timeout only bounds a hung test.
 */
export interface EventuallyOptions {
  /** What is awaited, for the failure message ("node-b ready"). */
  what: string;
  /** How long to keep polling, in ms (default 10 s). */
  timeout?: number;
  /** Pause between checks, in ms (default 25). */
  interval?: number;
}

/** What a check returns while the condition does not hold yet. */
type NotYet = undefined | null | false;

/**
 * Calls `check` until it returns something other than undefined, null or false, and resolves to that value.
 * A check that throws is retried too (a server not listening yet is "not yet"); its last error is reported
 * if the timeout passes.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  { what, timeout = 10_000, interval = 25 }: EventuallyOptions,
): Promise<Exclude<T, NotYet>> {
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, NotYet>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause =
        lastError === undefined ? '' : ` (last error: ${(lastError as Error).message ?? lastError})`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${cause}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

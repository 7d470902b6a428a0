/**
 * One operation at a time per key (e.g. per pod), in call order; different keys run concurrently. A failed
 * operation does not stop the next one for its key. Used where an add and a remove of one pod must never
 * overlap (the node agent, the local cluster's enrollment).
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(operation);
    this.#tails.set(key, next);
    void next
      .catch(() => {})
      .finally(() => {
        if (this.#tails.get(key) === next) this.#tails.delete(key);
      });
    return next;
  }

  /** Settles once no operation of any key is queued or running (including ones queued while it waits). */
  async drain(): Promise<void> {
    while (this.#tails.size > 0) await Promise.allSettled([...this.#tails.values()]);
  }
}

/**
 * Values kept from one rebuild to the next while their inputs are the same objects (or equal strings), so
 * that a rebuild of the whole mesh recomputes only what a change touched and hands back the very objects it
 * did not touch: their encodings (cached by identity downstream) are then reused and nothing unchanged is
 * encoded, hashed or diffed again. Each round keeps only the entries it asked for, so memory follows the mesh.
 */

interface Entry<V> {
  inputs: readonly unknown[];
  value: V;
}

function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Memo<V> {
  private previous = new Map<string, Entry<V>>();
  private current = new Map<string, Entry<V>>();

  /** The value kept under `key` if it was built from the same `inputs`, else `build()` (kept for next time). */
  get(key: string, inputs: readonly unknown[], build: () => V): V {
    const entry = this.current.get(key) ?? this.previous.get(key);
    if (entry !== undefined && sameInputs(entry.inputs, inputs)) {
      this.current.set(key, entry);
      return entry.value;
    }
    const value = build();
    this.current.set(key, { inputs, value });
    return value;
  }

  /** Forgets `key` (a removed pod's workload, between rounds of a model that keeps itself up to date). */
  delete(key: string): void {
    this.current.delete(key);
    this.previous.delete(key);
  }

  /** Starts a round: what the last round did not ask for is forgotten. */
  nextRound(): void {
    this.previous = this.current;
    this.current = new Map();
  }
}

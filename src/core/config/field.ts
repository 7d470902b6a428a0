/**
 * A cursor over untyped YAML that knows its field path and reports problems to an IssueCollector. Parsers
 * of every kind are written with it, so that each error names the exact field and parsing goes on after
 * an error (the user sees all problems of a file at once). Readers return `undefined` for an absent or
 * invalid value; an invalid value has already been reported.
 */

import { parseDuration } from './duration.ts';
import type { IssueCollector } from './issues.ts';

export interface Presence {
  required?: boolean;
}

export class Field {
  readonly value: unknown;
  readonly path: string;
  readonly issues: IssueCollector;

  constructor(value: unknown, path: string, issues: IssueCollector) {
    this.value = value;
    this.path = path;
    this.issues = issues;
  }

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  child(key: string): Field {
    const value = isPlainObject(this.value) ? this.value[key] : undefined;
    return new Field(value, this.path ? `${this.path}.${key}` : key, this.issues);
  }

  error(message: string): undefined {
    this.issues.error(this.path, message);
    return undefined;
  }

  warn(message: string): void {
    this.issues.warn(this.path, message);
  }

  private absent(presence: Presence | undefined): undefined {
    if (presence?.required) this.issues.error(this.path, 'required field is missing');
    return undefined;
  }

  /**
   * The value as a mapping whose keys must be among `known`; other keys are reported as unknown fields
   * (Kubernetes' strict decoding), which catches typos such as `selecter:` that would otherwise be ignored.
   */
  object(known: readonly string[] | 'any', presence?: Presence): Field | undefined {
    if (!this.present) return this.absent(presence);
    if (!isPlainObject(this.value)) return this.error(`expected a mapping, got ${describe(this.value)}`);
    if (known !== 'any') {
      for (const key of Object.keys(this.value)) {
        if (!known.includes(key)) this.child(key).error(`unknown field (known fields: ${known.join(', ')})`);
      }
    }
    return this;
  }

  keys(): string[] {
    return isPlainObject(this.value) ? Object.keys(this.value) : [];
  }

  string(
    options?: Presence & { pattern?: RegExp; patternHint?: string; nonEmpty?: boolean },
  ): string | undefined {
    if (!this.present) return this.absent(options);
    if (typeof this.value !== 'string') return this.error(`expected a string, got ${describe(this.value)}`);
    if (options?.nonEmpty && this.value === '') return this.error('must not be empty');
    if (options?.pattern && !options.pattern.test(this.value)) {
      return this.error(
        `invalid value ${JSON.stringify(this.value)}: ${options.patternHint ?? `must match ${options.pattern}`}`,
      );
    }
    return this.value;
  }

  /** A string that must be one of `values` (an enum in the Istio or Kubernetes API). */
  oneOf<T extends string>(values: readonly T[], presence?: Presence): T | undefined {
    const value = this.string(presence);
    if (value === undefined) return undefined;
    if (!(values as readonly string[]).includes(value)) {
      return this.error(`invalid value ${JSON.stringify(value)}: must be one of ${values.join(', ')}`);
    }
    return value as T;
  }

  integer(options?: Presence & { min?: number; max?: number }): number | undefined {
    if (!this.present) return this.absent(options);
    if (typeof this.value !== 'number' || !Number.isInteger(this.value)) {
      return this.error(`expected an integer, got ${describe(this.value)}`);
    }
    return this.checkRange(this.value, options);
  }

  number(options?: Presence & { min?: number; max?: number }): number | undefined {
    if (!this.present) return this.absent(options);
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) {
      return this.error(`expected a number, got ${describe(this.value)}`);
    }
    return this.checkRange(this.value, options);
  }

  private checkRange(value: number, range: { min?: number; max?: number } | undefined): number | undefined {
    if (range?.min !== undefined && value < range.min)
      return this.error(`must be at least ${range.min}, got ${value}`);
    if (range?.max !== undefined && value > range.max)
      return this.error(`must be at most ${range.max}, got ${value}`);
    return value;
  }

  /** A TCP/UDP port number, 1-65535. */
  port(presence?: Presence): number | undefined {
    return this.integer({ ...presence, min: 1, max: 65535 });
  }

  boolean(presence?: Presence): boolean | undefined {
    if (!this.present) return this.absent(presence);
    if (typeof this.value !== 'boolean')
      return this.error(`expected true or false, got ${describe(this.value)}`);
    return this.value;
  }

  /** A duration written as protobuf/Go durations are (`1.5s`, `100ms`, `1m30s`), in milliseconds. */
  duration(presence?: Presence & { min?: number }): number | undefined {
    const text = this.string(presence);
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    if (ms === undefined)
      return this.error(
        `invalid duration ${JSON.stringify(text)}: use a number with a unit, e.g. 1.5s or 100ms`,
      );
    if (presence?.min !== undefined && ms < presence.min)
      return this.error(`duration must be at least ${presence.min}ms`);
    return ms;
  }

  /** A list whose items are parsed by `each`; invalid items are reported and left out. */
  list<T>(
    each: (item: Field, index: number) => T | undefined,
    options?: Presence & { nonEmpty?: boolean },
  ): T[] | undefined {
    if (!this.present) return this.absent(options);
    if (!Array.isArray(this.value)) return this.error(`expected a list, got ${describe(this.value)}`);
    if (options?.nonEmpty && this.value.length === 0) return this.error('must not be empty');
    const out: T[] = [];
    this.value.forEach((item, index) => {
      const parsed = each(new Field(item, `${this.path}[${index}]`, this.issues), index);
      if (parsed !== undefined) out.push(parsed);
    });
    return out;
  }

  /** A list of strings. */
  /** A list of strings; `nonEmptyItems` refuses an empty string among them (a CRD's `minLength: 1`). */
  strings(options?: Presence & { nonEmpty?: boolean; nonEmptyItems?: boolean }): string[] | undefined {
    return this.list((item) => item.string({ required: true, nonEmpty: options?.nonEmptyItems }), options);
  }

  /** A mapping of string keys to values parsed by `each` (labels, env maps, ...). */
  map<T>(
    each: (item: Field, key: string) => T | undefined,
    presence?: Presence,
  ): Record<string, T> | undefined {
    if (!this.object('any', presence)) return undefined;
    const out: Record<string, T> = {};
    for (const key of this.keys()) {
      const parsed = each(this.child(key), key);
      if (parsed !== undefined) out[key] = parsed;
    }
    return out;
  }

  /** Kubernetes labels: string keys and string values (numbers and booleans must be quoted, as in Kubernetes). */
  labels(presence?: Presence): Record<string, string> | undefined {
    return this.map((item, key) => {
      if (!LABEL_KEY.test(key))
        return item.error('invalid label key: use [prefix/]name with alphanumerics, -, _ and .');
      return item.string({
        required: true,
        pattern: LABEL_VALUE,
        patternHint: 'label values are at most 63 alphanumerics, -, _ or .',
      });
    }, presence);
  }

  /** Reports an error when more than one of `keys` is set on this mapping (a protobuf `oneof`). */
  exclusive(keys: readonly string[]): void {
    const set = keys.filter((key) => this.child(key).present);
    if (set.length > 1) this.error(`${set.join(' and ')} are mutually exclusive: set only one`);
  }
}

/** Kubernetes label keys (`[prefix/]name`) and values; also what `ambit local label` accepts. */
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

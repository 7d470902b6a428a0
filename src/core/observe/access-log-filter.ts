/**
 * The Telemetry kind's access log `filter.expression`: a CEL expression over Envoy's request attributes.
 * We take the subset that access log filters are written in: comparisons of `response.code`,
 * `response.grpc_status`, `response.flags`, `request.method`, `request.path`, `request.url_path`,
 * `request.host`, `request.protocol`, `request.headers['name']`, `connection.mtls` and
 * `source.principal` with literals (`== != < <= > >=`), the string methods `startsWith`, `endsWith`,
 * `contains`, `in [...]`, and `! && || ( )`. Parsed once into a closure tree; an expression outside the
 * subset is refused with the reason (at validation, so nothing half-works at run time).
 */
import { AmbitError } from '../errors.ts';
import type { AccessLogEntry } from './access-log-format.ts';

/** What a filter reads: the entry, and whether the caller came over mTLS. */
export interface FilterInput {
  entry: AccessLogEntry;
  mtls: boolean;
}

export type AccessLogFilter = (input: FilterInput) => boolean;

type Scalar = string | number | boolean | undefined;
type Expression = (input: FilterInput) => Scalar | Scalar[];

const ATTRIBUTES: Record<string, (input: FilterInput) => Scalar> = {
  'response.code': ({ entry }) => entry.responseCode,
  'response.grpc_status': ({ entry }) => (entry.grpcStatus ? Number(entry.grpcStatus) : undefined),
  'response.flags': ({ entry }) => entry.responseFlags,
  'request.method': ({ entry }) => entry.method,
  'request.path': ({ entry }) => entry.path,
  'request.url_path': ({ entry }) => pathOnly(entry.path),
  'request.host': ({ entry }) => entry.authority,
  'request.protocol': ({ entry }) => entry.protocol,
  'request.id': ({ entry }) => entry.requestId,
  'connection.mtls': ({ mtls }) => mtls,
  'source.principal': ({ entry }) => entry.downstreamPeer,
  'upstream.address': ({ entry }) => entry.upstreamHost,
};

function pathOnly(path: string): string {
  const mark = path.indexOf('?');
  return mark < 0 ? path : path.slice(0, mark);
}

type Token =
  | { kind: 'number'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'name'; value: string }
  | { kind: 'op'; value: string };

const TOKEN =
  /\s*(?:(\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(==|!=|<=|>=|&&|\|\||[<>!()[\],.]))/y;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    TOKEN.lastIndex = at;
    const match = TOKEN.exec(text);
    if (match === null) throw new FilterError(`unexpected character at ${at}: ${JSON.stringify(text[at])}`);
    at = TOKEN.lastIndex;
    const [, number, single, double, name, op] = match;
    if (number !== undefined) tokens.push({ kind: 'number', value: Number(number) });
    else if (single !== undefined || double !== undefined)
      tokens.push({ kind: 'string', value: (single ?? double ?? '').replace(/\\(.)/g, '$1') });
    else if (name !== undefined) tokens.push({ kind: 'name', value: name });
    else tokens.push({ kind: 'op', value: op ?? '' });
  }
  return tokens;
}

/** An expression outside the subset (reported as the field's error at validation). */
class FilterError extends AmbitError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'FilterError';
  }
}

const METHODS: Record<string, (subject: string, argument: string) => boolean> = {
  startsWith: (subject, argument) => subject.startsWith(argument),
  endsWith: (subject, argument) => subject.endsWith(argument),
  contains: (subject, argument) => subject.includes(argument),
};

/** Recursive descent over the tokens: or -> and -> unary -> comparison -> primary. */
class Parser {
  readonly #tokens: Token[];
  #at = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  parse(): Expression {
    const expression = this.#or();
    const rest = this.#tokens[this.#at];
    if (rest !== undefined) throw new FilterError(`unexpected ${JSON.stringify(rest.value)}`);
    return expression;
  }

  #peek(value: string): boolean {
    const token = this.#tokens[this.#at];
    return token?.kind === 'op' && token.value === value;
  }

  #expect(value: string): void {
    if (!this.#peek(value)) {
      const token = this.#tokens[this.#at];
      throw new FilterError(`expected ${value}, got ${token ? JSON.stringify(token.value) : 'the end'}`);
    }
    this.#at++;
  }

  #or(): Expression {
    let left = this.#and();
    while (this.#peek('||')) {
      this.#at++;
      const [a, b] = [left, this.#and()];
      left = (input) => truthy(a(input)) || truthy(b(input));
    }
    return left;
  }

  #and(): Expression {
    let left = this.#unary();
    while (this.#peek('&&')) {
      this.#at++;
      const [a, b] = [left, this.#unary()];
      left = (input) => truthy(a(input)) && truthy(b(input));
    }
    return left;
  }

  #unary(): Expression {
    if (this.#peek('!')) {
      this.#at++;
      const inner = this.#unary();
      return (input) => !truthy(inner(input));
    }
    return this.#comparison();
  }

  #comparison(): Expression {
    const left = this.#primary();
    const token = this.#tokens[this.#at];
    if (token?.kind === 'name' && token.value === 'in') {
      this.#at++;
      const list = this.#primary();
      return (input) => {
        const values = list(input);
        return Array.isArray(values) && values.includes(left(input) as Scalar);
      };
    }
    if (token?.kind !== 'op' || !['==', '!=', '<', '<=', '>', '>='].includes(token.value)) return left;
    this.#at++;
    const right = this.#primary();
    return compare(token.value, left, right);
  }

  #primary(): Expression {
    const token = this.#tokens[this.#at++];
    if (token === undefined) throw new FilterError('unexpected end of expression');
    if (token.kind === 'number' || token.kind === 'string') {
      const value = token.value;
      return () => value;
    }
    if (token.kind === 'op' && token.value === '(') {
      const inner = this.#or();
      this.#expect(')');
      return inner;
    }
    if (token.kind === 'op' && token.value === '[') return this.#list();
    if (token.kind === 'name') return this.#attribute(token.value);
    throw new FilterError(`unexpected ${JSON.stringify(token.value)}`);
  }

  #list(): Expression {
    const items: Scalar[] = [];
    while (!this.#peek(']')) {
      const token = this.#tokens[this.#at++];
      if (token?.kind !== 'number' && token?.kind !== 'string')
        throw new FilterError('a list holds number or string literals only');
      items.push(token.value);
      if (!this.#peek(']')) this.#expect(',');
    }
    this.#at++;
    return () => items;
  }

  #attribute(name: string): Expression {
    if (name === 'true' || name === 'false') {
      const value = name === 'true';
      return () => value;
    }
    // `request.headers['x-name']`, and `attribute.method('text')` (the tokenizer joins dotted names).
    const method = Object.keys(METHODS).find((known) => name.endsWith(`.${known}`));
    const base = method === undefined ? name : name.slice(0, -method.length - 1);
    let read: (input: FilterInput) => Scalar;
    if (base === 'request.headers') {
      this.#expect('[');
      const key = this.#tokens[this.#at++];
      if (key?.kind !== 'string') throw new FilterError("request.headers takes a quoted name: ['x-name']");
      this.#expect(']');
      const header = key.value.toLowerCase();
      read = ({ entry }) => entry.requestHeader?.(header);
    } else {
      const attribute = ATTRIBUTES[base];
      if (attribute === undefined)
        throw new FilterError(
          `unknown attribute ${base} (known: ${Object.keys(ATTRIBUTES).join(', ')}, request.headers['name'])`,
        );
      read = attribute;
    }
    if (method === undefined && this.#peek('.')) {
      this.#at++;
      const called = this.#tokens[this.#at++];
      if (called?.kind !== 'name' || METHODS[called.value] === undefined)
        throw new FilterError(`unknown method: use ${Object.keys(METHODS).join(', ')}`);
      return this.#call(read, called.value);
    }
    return method === undefined ? read : this.#call(read, method);
  }

  #call(read: (input: FilterInput) => Scalar, method: string): Expression {
    const test = METHODS[method] as (subject: string, argument: string) => boolean;
    this.#expect('(');
    const argument = this.#tokens[this.#at++];
    if (argument?.kind !== 'string') throw new FilterError(`${method} takes one string literal`);
    this.#expect(')');
    const text = argument.value;
    return (input) => {
      const subject = read(input);
      return typeof subject === 'string' && test(subject, text);
    };
  }
}

function truthy(value: Scalar | Scalar[]): boolean {
  return value === true;
}

function compare(op: string, left: Expression, right: Expression): Expression {
  return (input) => {
    const a = left(input);
    const b = right(input);
    if (a === undefined || b === undefined || Array.isArray(a) || Array.isArray(b)) return op === '!=';
    switch (op) {
      case '==':
        return a === b;
      case '!=':
        return a !== b;
      case '<':
        return a < b;
      case '<=':
        return a <= b;
      case '>':
        return a > b;
      default:
        return a >= b;
    }
  };
}

export type FilterResult = { filter: AccessLogFilter } | { error: string };

/** Compiles a filter expression; the result says why one is refused. */
export function compileFilter(expression: string): FilterResult {
  try {
    const parsed = new Parser(tokenize(expression)).parse();
    return { filter: (input) => truthy(parsed(input)) };
  } catch (error) {
    if (error instanceof FilterError) return { error: error.message };
    throw error;
  }
}

/**
 * The error catalogue, enumerated (as fastify's tests enumerate FST_ERR_*): every code has an exit status,
 * an HTTP status and a hint; every code is used; no code is spelled outside the catalogue; the wire form
 * round-trips; the failure enum maps every failure to a code and to its L4 and L7 flags; the CLI prints
 * usage errors with help and unknown errors as internal errors.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandArgs } from '../../src/cli/args.ts';
import { DEBUG_ENV, failureReport } from '../../src/cli/main.ts';
import { ConfigError } from '../../src/core/config/issues.ts';
import {
  AmbitError,
  asAmbitError,
  ERRORS,
  type ErrorCode,
  errorFromWire,
  errorMessage,
  parsePublicCode,
  publicCode,
  SystemError,
  UsageError,
  wireError,
} from '../../src/core/errors.ts';
import {
  FAILURES,
  type Failure,
  failureErrorCode,
  l4ResponseFlag,
  l7ResponseFlag,
} from '../../src/core/failure.ts';
import { ROOT } from '../support/cli.ts';

const CODES = Object.keys(ERRORS) as ErrorCode[];
const CATALOGUE_FILE = join('src', 'core', 'errors.ts');
const THIS_FILE = join('test', 'unit', 'core-errors.test.ts');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(join(ROOT, path)).isDirectory()) return entry === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|mjs|js)$/.test(entry) ? [path] : [];
  });
}

const TREE = ['src', 'test', 'bench', 'bin', 'scripts'].flatMap(sourceFiles);
const text = (path: string) => readFileSync(join(ROOT, path), 'utf8');

describe('the error catalogue', () => {
  it.each(CODES)('%s has an exit status, an HTTP status and a hint', (code) => {
    const spec = ERRORS[code];
    expect(code).toMatch(/^[A-Z][A-Z_]*[A-Z]$/);
    expect(Number.isInteger(spec.exit) && spec.exit >= 1 && spec.exit <= 125).toBe(true);
    expect(spec.http >= 400 && spec.http <= 599).toBe(true);
    expect(spec.hint.length).toBeGreaterThan(20);
    // A hint says what to do, in our voice: lower case, no full stop, no "error" restating the obvious.
    expect(spec.hint).toMatch(/^[a-z]/);
    expect(spec.hint).not.toMatch(/\.$/);
  });

  it('keeps the statuses the CLI and the API rely on', () => {
    expect(ERRORS.USAGE).toMatchObject({ exit: 2, http: 400 });
    expect(ERRORS.NOT_FOUND.http).toBe(404);
    expect(ERRORS.CONFIG_INVALID.http).toBe(422);
    expect(ERRORS.TOO_LARGE.http).toBe(413);
    // A failure of the system or of Ambit itself is never the client's fault.
    for (const code of ['SYSTEM', 'INTERNAL', 'STATE_CORRUPT', 'UNAVAILABLE', 'TIMEOUT'] as const)
      expect(ERRORS[code].http).toBeGreaterThanOrEqual(500);
  });

  it('has no unused code: each is thrown or mapped somewhere in src', () => {
    const catalogue = text(CATALOGUE_FILE);
    const uses = [
      ...TREE.filter((path) => path.startsWith('src') && path !== CATALOGUE_FILE).map(text),
      // The catalogue's own helpers (UsageError, SystemError, asAmbitError) use codes after the table.
      catalogue.slice(catalogue.indexOf('as const satisfies')),
    ].join('\n');
    const unused = CODES.filter((code) => !uses.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });

  it('is the only place a code is spelled AMBIT_ERR_*', () => {
    const prefix = publicCode('USAGE').replace('USAGE', '');
    const offenders = TREE.filter(
      (path) => path !== CATALOGUE_FILE && path !== THIS_FILE && text(path).includes(prefix),
    ).map((path) => relative('.', path));
    expect(offenders).toEqual([]);
  });

  it('makes every error class of src an AmbitError', () => {
    const classes = TREE.filter((path) => path.startsWith('src')).flatMap((path) =>
      [...text(path).matchAll(/class (\w+) extends (\w+)/g)]
        .filter(([, name]) => name!.endsWith('Error'))
        .map(([, name, base]) => `${name} extends ${base}`),
    );
    expect(classes.length).toBeGreaterThan(5);
    expect(classes.filter((line) => line.endsWith('extends Error'))).toEqual(['AmbitError extends Error']);
  });
});

describe('public codes on the wire', () => {
  it.each(CODES)('%s round-trips through its public spelling', (code) => {
    expect(publicCode(code)).toBe(`AMBIT${'_ERR_'}${code}`);
    expect(parsePublicCode(publicCode(code))).toBe(code);
  });

  it.each([
    ['an unknown code', `${publicCode('USAGE')}X`],
    ['no prefix', 'USAGE'],
    ['a prototype key', publicCode('USAGE').replace('USAGE', 'constructor')],
    ['not a string', 42],
    ['nothing', undefined],
    ['empty', ''],
  ])('refuses %s', (_what, input) => {
    expect(parsePublicCode(input)).toBeUndefined();
  });

  it.each<[string, unknown, { code: string; message: string }]>([
    [
      'an AmbitError',
      new AmbitError('NOT_FOUND', 'no pod x'),
      { code: publicCode('NOT_FOUND'), message: 'no pod x' },
    ],
    ['a usage error', new UsageError('bad flag', 'help'), { code: publicCode('USAGE'), message: 'bad flag' }],
    [
      'a system error',
      new SystemError('ip failed', 'EPERM'),
      { code: publicCode('SYSTEM'), message: 'ip failed: EPERM' },
    ],
    [
      'a plain Error (a bug)',
      new TypeError('x is undefined'),
      { code: publicCode('INTERNAL'), message: 'x is undefined' },
    ],
    ['a thrown string', 'boom', { code: publicCode('INTERNAL'), message: 'boom' }],
  ])('sends %s as its public code and message', (_what, error, wire) => {
    expect(wireError(error)).toEqual(wire);
    expect(errorFromWire(wireError(error))).toMatchObject({
      code: parsePublicCode(wire.code),
      message: wire.message,
    });
  });

  it('keeps a code this version does not know in the message of an INTERNAL error', () => {
    const error = errorFromWire({ code: 'AMBIT_ERR_FROM_THE_FUTURE', message: 'new thing' });
    expect(error).toMatchObject({ code: 'INTERNAL', message: 'AMBIT_ERR_FROM_THE_FUTURE: new thing' });
  });

  it('keeps the cause of a wrapped bug', () => {
    const bug = new RangeError('index');
    expect(asAmbitError(bug).cause).toBe(bug);
    const known = new AmbitError('TIMEOUT', 'late');
    expect(asAmbitError(known)).toBe(known);
  });
});

describe('errorMessage', () => {
  const coded = (message: string, code: string) => Object.assign(new Error(message), { code });
  it.each<[string, unknown, string]>([
    [
      'a system error whose message has its code',
      coded('connect ECONNREFUSED 10.0.0.1:80', 'ECONNREFUSED'),
      'connect ECONNREFUSED 10.0.0.1:80',
    ],
    [
      'a coded error whose message lacks it',
      coded('stream closed', 'ERR_HTTP2_STREAM_ERROR'),
      'ERR_HTTP2_STREAM_ERROR: stream closed',
    ],
    ['a coded error without a message', coded('', 'ECONNRESET'), 'ECONNRESET'],
    [
      'an AmbitError (its code is shown apart)',
      new AmbitError('TIMEOUT', 'no CONNECT answer in 5000 ms'),
      'no CONNECT answer in 5000 ms',
    ],
    ['a plain error', new Error('nope'), 'nope'],
    ['a string', 'just text', 'just text'],
    ['undefined', undefined, 'undefined'],
    ['an object with a numeric code', Object.assign(new Error('odd'), { code: 7 }), 'odd'],
  ])('describes %s', (_what, error, expected) => {
    expect(errorMessage(error)).toBe(expected);
  });
});

describe('the failure enum', () => {
  const failures = Object.keys(FAILURES) as Failure[];

  it.each(failures)('%s maps to a catalogue code and to L4 and L7 flags', (failure) => {
    expect(CODES).toContain(failureErrorCode(failure));
    expect(['-', 'DENY', 'CONNECT']).toContain(l4ResponseFlag(failure));
    expect(l7ResponseFlag(failure)).toMatch(/^(NR|UH|UF|UC|UO|UT|URX|DI|FI|RL|DENY)$/);
  });

  it.each<[Failure | undefined, string, string, ErrorCode | undefined]>([
    [undefined, '-', '-', undefined],
    ['Denied', 'DENY', 'DENY', 'DENIED'],
    ['NoRoute', 'CONNECT', 'NR', 'NOT_FOUND'],
    ['NoHealthyUpstream', 'CONNECT', 'UH', 'UNAVAILABLE'],
    ['UpstreamConnectFailure', 'CONNECT', 'UF', 'UNAVAILABLE'],
    ['UpstreamReset', 'CONNECT', 'UC', 'UNAVAILABLE'],
    ['Overflow', 'CONNECT', 'UO', 'UNAVAILABLE'],
    ['Timeout', 'CONNECT', 'UT', 'TIMEOUT'],
    ['RetryLimitExceeded', 'CONNECT', 'URX', 'UNAVAILABLE'],
    ['RateLimited', 'CONNECT', 'RL', 'UNAVAILABLE'],
    ['FaultInjected', 'CONNECT', 'FI', 'UNAVAILABLE'],
    ['DelayInjected', '-', 'DI', 'TIMEOUT'],
  ])('%s: L4 %s, L7 %s, code %s', (failure, l4, l7, code) => {
    expect(l4ResponseFlag(failure)).toBe(l4);
    expect(l7ResponseFlag(failure)).toBe(l7);
    if (failure !== undefined) expect(failureErrorCode(failure)).toBe(code);
  });
});

describe('what the CLI prints for an error', () => {
  it('prints a bad flag as a usage error with the command help, no stack trace', () => {
    let caught: unknown;
    try {
      parseCommandArgs(
        { args: ['--bogus'], options: { name: { type: 'string' } } },
        'Usage: ambit get <kind>\n',
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const report = failureReport('get', caught, {});
    expect(report).toMatch(/^ambit get: Unknown option '--bogus'/);
    expect(report).toContain('\nUsage: ambit get <kind>\n');
    expect(report).not.toMatch(/TypeError|ERR_PARSE_ARGS|\n\s+at /);
    expect(asAmbitError(caught).spec.exit).toBe(2);
  });

  it.each([
    ['a missing option value', ['--name'], /Option '--name <value>' argument missing/],
    ['a positional where none is allowed', ['extra'], /Unexpected argument 'extra'/],
    ['a value to a boolean flag', ['--help=yes'], /Option '-h, --help' does not take an argument/],
  ])('refuses %s as a usage error', (_what, args, message) => {
    const parse = () =>
      parseCommandArgs(
        { args, options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true },
        'help',
      );
    expect(parse).toThrow(UsageError);
    expect(parse).toThrow(message);
  });

  it('prints a known error with its public code and hint', () => {
    const report = failureReport('local', new AmbitError('NOT_FOUND', 'no local cluster named "x"'), {});
    expect(report).toBe(
      `ambit local: no local cluster named "x"\n  ${publicCode('NOT_FOUND')}: ${ERRORS.NOT_FOUND.hint}\n`,
    );
  });

  it('prints config errors with every issue', () => {
    const error = new ConfigError([
      {
        severity: 'error',
        source: { file: 'a.yaml', document: 1 },
        path: 'spec.action',
        message: 'must be ALLOW or DENY',
      },
    ]);
    expect(failureReport('apply', error, {})).toContain('a.yaml: document 1');
  });

  it('prints an unknown error as an internal error pointing to the logs; the stack only when debugging', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'pods')");
    const quiet = failureReport('control', bug, {});
    expect(quiet).toMatch(/^ambit control: internal error: Cannot read properties/);
    expect(quiet).toContain(publicCode('INTERNAL'));
    expect(quiet).toContain('ambit local logs');
    expect(quiet).not.toContain(' at ');
    for (const off of ['', '0']) expect(failureReport('control', bug, { [DEBUG_ENV]: off })).toBe(quiet);
    expect(failureReport('control', bug, { [DEBUG_ENV]: '1' })).toContain(bug.stack!);
    // A known error never shows a stack: its message is the whole story.
    expect(failureReport('get', new AmbitError('TIMEOUT', 'late'), { [DEBUG_ENV]: '1' })).not.toContain(
      ' at ',
    );
  });
});

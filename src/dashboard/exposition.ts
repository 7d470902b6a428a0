/**
 * Prometheus' text exposition format (what every ztunnel and waypoint serves on 15020), read into samples:
 * one per series line, histograms as their `_bucket`/`_sum`/`_count` series, as Prometheus stores them.
 * Comments (`# HELP`, `# TYPE`) carry nothing the dashboard needs.
 *
 * Written here rather than taken from npm: the one maintained parser there (parse-prometheus-text-format
 * 1.1.1) drops the labels of histogram series when `le` comes first, which is how prom-client writes them.
 */

import { AmbitError } from '../core/errors.ts';

export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const SPACES = /[ \t]*/y;
const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', n: '\n' };

/** A scrape that is not valid exposition text: the peer's answer, so a bad request of its own making. */
export class ExpositionError extends AmbitError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
    this.name = 'ExpositionError';
  }
}

/** Every sample of `text`; a malformed line is an error that names it (the scrape is then refused whole). */
export function parseExposition(text: string): ExpositionSample[] {
  const samples: ExpositionSample[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      samples.push(parseLine(line));
    } catch (error) {
      throw new ExpositionError(`line ${index + 1}: ${(error as Error).message}: ${line.slice(0, 120)}`);
    }
  }
  return samples;
}

function token(pattern: RegExp, line: string, at: number): string | undefined {
  pattern.lastIndex = at;
  return pattern.exec(line)?.[0];
}

function parseLine(line: string): ExpositionSample {
  const name = token(NAME, line, 0);
  if (!name) throw new Error('no metric name');
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at++;
    for (;;) {
      at += token(SPACES, line, at)!.length;
      if (line[at] === '}') break;
      const label = token(LABEL_NAME, line, at);
      if (!label) throw new Error('bad label name');
      at += label.length;
      at += token(SPACES, line, at)!.length;
      if (line[at] !== '=') throw new Error(`label ${label}: expected =`);
      at++;
      at += token(SPACES, line, at)!.length;
      if (line[at] !== '"') throw new Error(`label ${label}: expected a quoted value`);
      at++;
      let value = '';
      while (line[at] !== '"') {
        if (at >= line.length) throw new Error(`label ${label}: unterminated value`);
        if (line[at] === '\\') {
          const escaped = ESCAPES[line[at + 1] ?? ''];
          if (escaped === undefined) throw new Error(`label ${label}: bad escape`);
          value += escaped;
          at += 2;
        } else value += line[at++];
      }
      labels[label] = value;
      at++;
      at += token(SPACES, line, at)!.length;
      if (line[at] === ',') at++;
      else if (line[at] !== '}') throw new Error(`label ${label}: expected , or }`);
    }
    at++;
  }
  const [valueText] = line
    .slice(at)
    .trim()
    .split(/[ \t]+/);
  const value = parseValue(valueText ?? '');
  if (value === undefined) throw new Error(`bad value ${JSON.stringify(valueText)}`);
  return { name, labels, value };
}

/** A sample value or a bucket bound as the format writes it (`+Inf`, `NaN`, `1e3`...). */
export function parseValue(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

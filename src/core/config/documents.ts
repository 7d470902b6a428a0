/**
 * Reads multi-document YAML files into raw documents that remember where they came from. YAML syntax errors
 * are reported like every other config problem: file, document and line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { type Document, isMap, isScalar, parseAllDocuments, Scalar, visit } from 'yaml';
import { ConfigError, type ConfigIssue, type SourceRef } from './issues.ts';

export interface RawDocument {
  source: SourceRef;
  value: unknown;
}

export interface ParsedText {
  documents: RawDocument[];
  issues: ConfigIssue[];
}

/** No value written after the colon (the parser gives an empty null scalar, or nothing). */
function isEmptyValue(value: unknown): boolean {
  return value === null || (isScalar(value) && value.value === null && value.source === '');
}

/** A colon glued to the end of its scalar and to the next flow indicator: `…::,` or `…::]`, not `a: ]`. */
const COLON_THEN_FLOW_END = /^:[,\]]$/;

/**
 * In a flow sequence, YAML 1.2 reads a plain scalar that ends in a colon before `,` or `]` as a one-pair map
 * with no value: `[1.2.3.4, 2001:db8::]` holds `{"2001:db8:": null}`. Kubernetes' YAML reader (Go's) reads it
 * as the string `2001:db8::`, and manifests written for kubectl rely on that (an IPv6 address ending in `::`
 * in a ServiceEntry's `addresses`, as in Istio's own validation testdata). Such an item, a map with one
 * plain key right before its colon and no value, becomes that string again.
 */
function readFlowColonsAsKubernetesDoes(doc: Document.Parsed, text: string): void {
  visit(doc, {
    Seq(_, seq) {
      if (!seq.flow) return;
      seq.items = seq.items.map((item) => {
        if (!isMap(item) || item.items.length !== 1) return item;
        const [pair] = item.items;
        const key = pair?.key;
        const implicit =
          isScalar(key) && key.type === 'PLAIN' && key.range && item.range?.[0] === key.range[0];
        if (
          !implicit ||
          !isEmptyValue(pair!.value) ||
          !COLON_THEN_FLOW_END.test(text.slice(key.range![1], key.range![1] + 2))
        )
          return item;
        return new Scalar(`${String(key.source)}:`);
      });
    },
  });
}

/** Parses YAML text; `file` is the name used in messages. Empty documents (a stray `---`) are skipped. */
export function parseYamlText(text: string, file: string): ParsedText {
  const documents: RawDocument[] = [];
  const issues: ConfigIssue[] = [];
  parseAllDocuments(text).forEach((doc, index) => {
    const source = { file, document: index + 1 };
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const line = error.linePos?.[0]?.line;
        // The parser's message embeds its own position and a source excerpt; keep only the description.
        const detail = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        issues.push({
          severity: 'error',
          source,
          path: '',
          message: `YAML syntax error${line ? ` at line ${line}` : ''}: ${detail}`,
        });
      }
      return;
    }
    readFlowColonsAsKubernetesDoes(doc, text);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // An alias bomb (aliases expanding without bound) is the user's config error, not the server's.
      issues.push({
        severity: 'error',
        source,
        path: '',
        message: `YAML not expanded: ${(error as Error).message}`,
      });
      return;
    }
    if (value !== null && value !== undefined) documents.push({ source, value });
  });
  return { documents, issues };
}

/** Expands directories to their YAML files (sorted, not recursive, as `kubectl apply -f dir` does). */
export function expandConfigPaths(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) {
        if (['.yaml', '.yml'].includes(extname(entry))) files.push(join(path, entry));
      }
    } else {
      files.push(path);
    }
  }
  return files;
}

/** Reads and parses files; throws ConfigError if any has a syntax error (nothing is half-read). */
export function readYamlFiles(
  paths: readonly string[],
  displayName: (path: string) => string = basename,
): RawDocument[] {
  const documents: RawDocument[] = [];
  const issues: ConfigIssue[] = [];
  for (const path of expandConfigPaths(paths)) {
    const parsed = parseYamlText(readFileSync(path, 'utf8'), displayName(path));
    documents.push(...parsed.documents);
    issues.push(...parsed.issues);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return documents;
}

/**
 * How big config may grow, enforced at validation so that nothing accepted can make a push exceed what the
 * data plane can receive (`core/grpc/limits.ts`): a resource may hold at most `MAX_RESOURCE_BYTES`, the whole
 * config at most `MAX_CONFIG_BYTES` (JSON-encoded, what the snapshots are built from). A refusal names the
 * file, the document, the field that holds most of the bytes, and the limit.
 */
import { MAX_SNAPSHOT_BYTES } from '../grpc/limits.ts';
import type { RawDocument } from './documents.ts';
import type { ConfigIssue, ResourceRef } from './issues.ts';

export interface ConfigSizeLimits {
  /** One resource, JSON-encoded. */
  resourceBytes: number;
  /** The whole config in force, JSON-encoded. */
  configBytes: number;
}

export const MAX_RESOURCE_BYTES = 1024 * 1024;
/** Half the largest snapshot: a node's snapshot adds its own structure to the config it is built from. */
export const MAX_CONFIG_BYTES = MAX_SNAPSHOT_BYTES / 2;

export const DEFAULT_CONFIG_SIZE_LIMITS: ConfigSizeLimits = {
  resourceBytes: MAX_RESOURCE_BYTES,
  configBytes: MAX_CONFIG_BYTES,
};

/**
 * YAML text a document may take before it is even parsed: twice the resource limit leaves room for
 * indentation and comments. Parsing costs about a CPU second per MB, so a bigger document is refused from
 * its text alone.
 */
export const TEXT_PER_RESOURCE_LIMIT = 2;

/**
 * Documents of a YAML text whose text is over `TEXT_PER_RESOURCE_LIMIT` times the resource limit, found
 * without parsing: a `---` at the start of a line always starts a new document, so the text between two of
 * them bounds a document's size from above. The numbers are 1-based, as the parser counts them.
 */
export function oversizedTexts(text: string, file: string, limit = MAX_RESOURCE_BYTES): ConfigIssue[] {
  const textLimit = TEXT_PER_RESOURCE_LIMIT * limit;
  if (text.length <= textLimit) return [];
  const issues: ConfigIssue[] = [];
  const starts = [0];
  for (const match of text.matchAll(/^---(?=[ \t\r\n]|$)/gm)) if (match.index > 0) starts.push(match.index);
  // Comments and blank lines before the first marker belong to the first document, as the parser counts.
  if (starts.length > 1 && /^(\s*(#.*)?\n)*\s*$/.test(text.slice(0, starts[1]))) starts.shift();
  starts.forEach((start, index) => {
    const end = starts[index + 1] ?? text.length;
    const bytes = Buffer.byteLength(text.slice(start, end));
    if (bytes <= textLimit) return;
    issues.push({
      severity: 'error',
      source: { file, document: index + 1 },
      path: '',
      message: `the document's YAML is ${formatBytes(bytes)}, over ${formatBytes(textLimit)} (the limit per resource is ${formatBytes(limit)}); not parsed`,
    });
  });
  return issues;
}

export function encodedSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

/** The issue for a document over `limit` bytes (naming its largest field), or undefined. */
export function oversizedDocument(
  document: RawDocument,
  limit = MAX_RESOURCE_BYTES,
): ConfigIssue | undefined {
  const size = encodedSize(document.value);
  if (size <= limit) return undefined;
  const field = largestField(document.value);
  return {
    severity: 'error',
    source: document.source,
    resource: resourceRef(document.value),
    path: field.path,
    message: `the resource is ${formatBytes(size)} (this field ${formatBytes(field.bytes)}); the limit per resource is ${formatBytes(limit)}`,
  };
}

/** The issue for a whole config of `size` bytes over `limit`, reported on `largest` (its biggest document). */
export function oversizedConfig(
  size: number,
  largest: RawDocument,
  limit = MAX_CONFIG_BYTES,
): ConfigIssue | undefined {
  if (size <= limit) return undefined;
  return {
    severity: 'error',
    source: largest.source,
    resource: resourceRef(largest.value),
    path: '',
    message: `the config would be ${formatBytes(size)} in all (this resource ${formatBytes(encodedSize(largest.value))}); the limit for the whole config is ${formatBytes(limit)}`,
  };
}

/**
 * The field path that holds most of a value's bytes: descends into the biggest child while it holds most of
 * its parent (`spec.rules[0].from[0].source.principals` for a policy swollen by one list).
 */
export function largestField(value: unknown): { path: string; bytes: number } {
  let path = '';
  let current = value;
  let bytes = encodedSize(value);
  for (;;) {
    if (current === null || typeof current !== 'object') return { path, bytes };
    let best: { key: string; value: unknown; bytes: number } | undefined;
    for (const [key, child] of Object.entries(current)) {
      const size = encodedSize(child);
      if (!best || size > best.bytes) best = { key, value: child, bytes: size };
    }
    if (!best || best.bytes * 2 < bytes) return { path, bytes };
    path = Array.isArray(current) ? `${path}[${best.key}]` : path ? `${path}.${best.key}` : best.key;
    current = best.value;
    bytes = best.bytes;
  }
}

function resourceRef(value: unknown): ResourceRef | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { kind, metadata } = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof kind !== 'string') return undefined;
  return {
    kind,
    name: typeof metadata?.name === 'string' ? metadata.name : undefined,
    namespace: typeof metadata?.namespace === 'string' ? metadata.namespace : undefined,
  };
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
    : bytes >= 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${bytes} bytes`;
}

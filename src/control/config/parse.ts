/** Parsing config files into resources, keeping each document as written (for `ambit get -o yaml`). */
import { parseYamlText, type RawDocument } from '../../core/config/documents.ts';
import type { ConfigIssue } from '../../core/config/issues.ts';
import { type KindRegistry, parseResources, type Resource } from '../../core/config/resource.ts';
import type { ConfigFile } from '../../core/control-api/types.ts';

export interface ParsedFiles {
  resources: Resource[];
  documents: Map<string, unknown>;
  issues: ConfigIssue[];
}

/** Parses YAML files into resources; issues include syntax errors, schema errors and duplicates. */
export function parseFiles(files: readonly ConfigFile[], registry: KindRegistry): ParsedFiles {
  const raw: RawDocument[] = [];
  const issues: ConfigIssue[] = [];
  for (const file of files) {
    const parsed = parseYamlText(file.content, file.name);
    raw.push(...parsed.documents);
    issues.push(...parsed.issues);
  }
  const parsed = parseResources(raw, registry);
  const documents = new Map(raw.map((doc) => [sourceKey(doc.source), doc.value]));
  return { resources: parsed.resources, documents, issues: [...issues, ...parsed.issues] };
}

export function sourceKey(source: RawDocument['source']): string {
  return `${source.file}#${source.document}`;
}

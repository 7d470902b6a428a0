/** Parsing config files into resources, keeping each document as written (for `ambit get -o yaml`). */
import { parseYamlText, type RawDocument } from '../../core/config/documents.ts';
import type { ConfigIssue } from '../../core/config/issues.ts';
import { type KindRegistry, parseResources, type Resource } from '../../core/config/resource.ts';
import {
  type ConfigSizeLimits,
  DEFAULT_CONFIG_SIZE_LIMITS,
  oversizedDocument,
  oversizedTexts,
} from '../../core/config/size-limits.ts';
import type { ConfigFile } from '../../core/control-api/types.ts';

export interface ParsedFiles {
  resources: Resource[];
  documents: Map<string, unknown>;
  issues: ConfigIssue[];
}

/** Parses YAML files into resources; issues include syntax errors, schema errors and duplicates. */
export function parseFiles(
  files: readonly ConfigFile[],
  registry: KindRegistry,
  limits: ConfigSizeLimits = DEFAULT_CONFIG_SIZE_LIMITS,
): ParsedFiles {
  const raw: RawDocument[] = [];
  const issues: ConfigIssue[] = [];
  for (const file of files) {
    // Far too big to be a resource: refused from its text, before parsing would spend seconds of CPU on it.
    const tooBig = oversizedTexts(file.content, file.name, limits.resourceBytes);
    if (tooBig.length > 0) {
      issues.push(...tooBig);
      continue;
    }
    const parsed = parseYamlText(file.content, file.name);
    for (const document of parsed.documents) {
      // An oversized document is refused whole: validating its fields would only cost more.
      const oversized = oversizedDocument(document, limits.resourceBytes);
      if (oversized) issues.push(oversized);
      else raw.push(document);
    }
    issues.push(...parsed.issues);
  }
  const parsed = parseResources(raw, registry);
  const documents = new Map(raw.map((doc) => [sourceKey(doc.source), doc.value]));
  return { resources: parsed.resources, documents, issues: [...issues, ...parsed.issues] };
}

export function sourceKey(source: RawDocument['source']): string {
  return `${source.file}#${source.document}`;
}

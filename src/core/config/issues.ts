/**
 * Config problems, located precisely: the file, the document's index in it (1-based, counting every `---`
 * document as the user sees it), the resource it belongs to and the field path, e.g.
 * `policies.yaml: document 3 (AuthorizationPolicy default/allow-reviews): spec.rules[0].from: ...`.
 */
import { AmbitError } from '../errors.ts';

export interface SourceRef {
  file: string;
  /** 1-based position of the document in its file. */
  document: number;
}

export interface ResourceRef {
  kind: string;
  name?: string | undefined;
  namespace?: string | undefined;
}

export type Severity = 'error' | 'warning';

export interface ConfigIssue {
  severity: Severity;
  source: SourceRef;
  resource?: ResourceRef | undefined;
  /** Dotted field path (`spec.containers[0].command`); empty for a problem with the document as a whole. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const { source, resource, path, message } = issue;
  let where = `${source.file}: document ${source.document}`;
  if (resource) {
    const name =
      resource.name === undefined
        ? ''
        : ` ${resource.namespace ? `${resource.namespace}/` : ''}${resource.name}`;
    where += ` (${resource.kind}${name})`;
  }
  const prefix = issue.severity === 'warning' ? 'warning: ' : '';
  return `${prefix}${where}: ${path ? `${path}: ` : ''}${message}`;
}

/** Thrown when a set of documents has errors; the set as a whole was refused and nothing was applied. */
export class ConfigError extends AmbitError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const errors = issues.filter((issue) => issue.severity === 'error');
    super(
      'CONFIG_INVALID',
      `${errors.length} configuration error${errors.length === 1 ? '' : 's'}; nothing was applied:\n` +
        errors.map((issue) => `  ${formatIssue(issue)}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function hasErrors(issues: readonly ConfigIssue[]): boolean {
  return issues.some((issue) => issue.severity === 'error');
}

/** Collects issues for one document; the resource reference is filled in once metadata has been read. */
export class IssueCollector {
  readonly issues: ConfigIssue[] = [];
  resource: ResourceRef | undefined;
  readonly source: SourceRef;

  constructor(source: SourceRef) {
    this.source = source;
  }

  error(path: string, message: string): void {
    this.issues.push({ severity: 'error', source: this.source, resource: this.resource, path, message });
  }

  warn(path: string, message: string): void {
    this.issues.push({ severity: 'warning', source: this.source, resource: this.resource, path, message });
  }
}

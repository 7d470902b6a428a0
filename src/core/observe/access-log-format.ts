/**
 * Access log formats as Envoy writes them: a text format string of command operators (`%START_TIME%`,
 * `%REQ(:METHOD)%`, `%RESPONSE_CODE%`...) or JSON, whose labels map keys to such strings. Compiled once per
 * configuration into a list of parts, so a request's line costs one pass over the parts and no parsing. The
 * control plane compiles the same strings to refuse an unknown operator before anything is applied.
 */

/** What one finished request tells its access log line and its filter. */
export interface AccessLogEntry {
  startTime: Date;
  method: string;
  path: string;
  protocol: string;
  responseCode: number;
  responseFlags: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstreamServiceMs: number | undefined;
  forwardedFor: string | undefined;
  userAgent: string | undefined;
  requestId: string | undefined;
  authority: string | undefined;
  upstreamHost: string | undefined;
  upstreamCluster?: string | undefined;
  routeName?: string | undefined;
  /** The original client, `ip:port`. */
  downstreamRemote?: string | undefined;
  /** The address the client called (the service VIP and port). */
  downstreamLocal?: string | undefined;
  /** The caller's SPIFFE identity. */
  downstreamPeer?: string | undefined;
  grpcStatus?: string | undefined;
  /** Any request header by lower-case name (`REQ(...)`); the fields above cover the default format. */
  requestHeader?: ((name: string) => string | undefined) | undefined;
  responseHeader?: ((name: string) => string | undefined) | undefined;
  /** The trace this request belongs to, when it was traced. */
  traceId?: string | undefined;
}

type Value = string | number | undefined;
type Operator = (entry: AccessLogEntry, argument: string) => Value;

const milliseconds = (value: number | undefined) => (value === undefined ? undefined : Math.round(value));

/** Headers the entry carries as fields, so the default format needs no header accessor. */
const KNOWN_REQUEST_HEADERS: Record<string, (entry: AccessLogEntry) => Value> = {
  ':method': (entry) => entry.method,
  ':path': (entry) => entry.path,
  ':authority': (entry) => entry.authority,
  host: (entry) => entry.authority,
  'user-agent': (entry) => entry.userAgent,
  'x-request-id': (entry) => entry.requestId,
  'x-forwarded-for': (entry) => entry.forwardedFor,
};

function requestHeader(entry: AccessLogEntry, argument: string): Value {
  // `REQ(A?B)`: header A, else header B (Envoy's fallback syntax).
  for (const name of argument.toLowerCase().split('?')) {
    const known = KNOWN_REQUEST_HEADERS[name];
    const value = known ? known(entry) : entry.requestHeader?.(name);
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

function responseHeader(entry: AccessLogEntry, argument: string): Value {
  const name = argument.toLowerCase();
  if (name === 'x-envoy-upstream-service-time') return milliseconds(entry.upstreamServiceMs);
  if (name === 'grpc-status') return entry.grpcStatus || undefined;
  return entry.responseHeader?.(name);
}

/** The command operators we fill in; an operator outside this table is refused at validation. */
const OPERATORS: Record<string, Operator> = {
  START_TIME: (entry) => entry.startTime.toISOString(),
  REQ: requestHeader,
  RESP: responseHeader,
  PROTOCOL: (entry) => entry.protocol,
  RESPONSE_CODE: (entry) => entry.responseCode,
  RESPONSE_FLAGS: (entry) => entry.responseFlags,
  BYTES_RECEIVED: (entry) => entry.bytesReceived,
  BYTES_SENT: (entry) => entry.bytesSent,
  DURATION: (entry) => milliseconds(entry.durationMs),
  UPSTREAM_HOST: (entry) => entry.upstreamHost,
  UPSTREAM_CLUSTER: (entry) => entry.upstreamCluster,
  ROUTE_NAME: (entry) => entry.routeName,
  DOWNSTREAM_REMOTE_ADDRESS: (entry) => entry.downstreamRemote,
  DOWNSTREAM_LOCAL_ADDRESS: (entry) => entry.downstreamLocal,
  DOWNSTREAM_PEER_URI_SAN: (entry) => entry.downstreamPeer,
  GRPC_STATUS: (entry) => entry.grpcStatus || undefined,
  TRACE_ID: (entry) => entry.traceId,
};

/** Operators that take an argument in parentheses. */
const WITH_ARGUMENT = new Set(['REQ', 'RESP']);

/** Envoy's default text format (what Envoy writes when a file access log names no format). */
export const ENVOY_DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** The keys of a JSON line when the configuration names no labels: the default format's fields, named. */
export const DEFAULT_JSON_LABELS: Readonly<Record<string, string>> = {
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  downstream_peer_uri_san: '%DOWNSTREAM_PEER_URI_SAN%',
  route_name: '%ROUTE_NAME%',
};

type Part = string | { operator: Operator; argument: string };

/** A compiled format string: literal text and operators, in order. */
export interface CompiledFormat {
  readonly parts: readonly Part[];
}

export type FormatResult = { format: CompiledFormat } | { error: string };

const OPERATOR_TOKEN = /%([A-Z_]+)(?:\(([^)]*)\))?(?::\d+)?%/g;

/** Compiles an Envoy format string; `%%` is a literal `%`. An unknown operator is an error. */
export function compileFormat(text: string): FormatResult {
  const parts: Part[] = [];
  let last = 0;
  const source = text.replaceAll('%%', '\u0000');
  for (const match of source.matchAll(OPERATOR_TOKEN)) {
    const [token, name = '', argument] = match;
    const operator = OPERATORS[name];
    if (operator === undefined)
      return { error: `unknown command operator %${name}% (known: ${Object.keys(OPERATORS).join(', ')})` };
    if (WITH_ARGUMENT.has(name) !== (argument !== undefined))
      return {
        error: WITH_ARGUMENT.has(name)
          ? `%${name}% needs a header name: %${name}(name)%`
          : `%${name}% takes no argument`,
      };
    if (match.index > last) parts.push(source.slice(last, match.index));
    parts.push({ operator, argument: argument ?? '' });
    last = match.index + token.length;
  }
  if (last < source.length) parts.push(source.slice(last));
  const restored = parts.map((part) => (typeof part === 'string' ? part.replaceAll('\u0000', '%') : part));
  if (restored.some((part) => typeof part === 'string' && /%[A-Z_]/.test(part)))
    return { error: 'unterminated command operator: write %NAME% or %NAME(argument)%' };
  return { format: { parts: restored } };
}

/** A text line: absent values are `-`, as Envoy writes them. */
export function renderText(format: CompiledFormat, entry: AccessLogEntry): string {
  let line = '';
  for (const part of format.parts) {
    if (typeof part === 'string') line += part;
    else {
      const value = part.operator(entry, part.argument);
      line += value === undefined || value === '' ? '-' : String(value);
    }
  }
  return line;
}

export type CompiledLabels = ReadonlyArray<readonly [key: string, format: CompiledFormat]>;

export type LabelsResult = { labels: CompiledLabels } | { error: string; key: string };

/** Compiles JSON labels; the first bad one is named. */
export function compileLabels(labels: Readonly<Record<string, string>>): LabelsResult {
  const compiled: [string, CompiledFormat][] = [];
  for (const [key, text] of Object.entries(labels)) {
    const result = compileFormat(text);
    if ('error' in result) return { error: result.error, key };
    compiled.push([key, result.format]);
  }
  return { labels: compiled };
}

/**
 * A JSON line: a label that is one operator keeps its type (numbers stay numbers) and is null when absent,
 * as Envoy's typed JSON does; a label mixing text and operators is a string.
 */
export function renderJson(labels: CompiledLabels, entry: AccessLogEntry): string {
  const record: Record<string, string | number | null> = {};
  for (const [key, format] of labels) {
    const only = format.parts.length === 1 ? format.parts[0] : undefined;
    if (only !== undefined && typeof only !== 'string') {
      const value = only.operator(entry, only.argument);
      record[key] = value === undefined || value === '' ? null : value;
    } else record[key] = renderText(format, entry);
  }
  return `${JSON.stringify(record)}\n`;
}

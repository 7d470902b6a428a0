/**
 * How the Bookinfo stand-ins call each other, as the real services do: by Service name on port 9080 (the
 * `<SERVICE>_HOSTNAME` and `SERVICES_DOMAIN` variables override the host), with the request's tracing and
 * user headers copied onto every call so that a trace spans the whole page and routing by `end-user` works.
 */
import http, { type IncomingHttpHeaders } from 'node:http';

/** The headers Bookinfo forwards: trace context of every common format, and who the user is. */
export const PROPAGATED_HEADERS = [
  'x-request-id',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-ot-span-context',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'sw8',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'end-user',
  'user-agent',
  'cookie',
  'authorization',
] as const;

const UPSTREAM_TIMEOUT_MS = 3000;
const MAX_RESPONSE_BYTES = 1024 * 1024;

export function propagatedHeaders(incoming: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PROPAGATED_HEADERS) {
    const value = incoming[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export function serviceUrl(
  service: 'details' | 'reviews' | 'ratings',
  path: string,
  env = process.env,
): string {
  const domain = env.SERVICES_DOMAIN ? `.${env.SERVICES_DOMAIN}` : '';
  const host = env[`${service.toUpperCase()}_HOSTNAME`] ?? `${service}${domain}`;
  const port = env[`${service.toUpperCase()}_SERVICE_PORT`] ?? '9080';
  return `http://${host}:${port}${path}`;
}

export type UpstreamResult =
  | { ok: true; status: number; body: unknown }
  | { ok: false; status: number; error: string };

/**
 * GET a JSON document from another Bookinfo service; failures come back as values, never thrown. Each call
 * opens its own connection, as the real services' HTTP clients do: a mesh balances connections, so a pooled
 * connection would pin every request to one backend.
 */
export function getJson(url: string, headers: Record<string, string>): Promise<UpstreamResult> {
  return new Promise((resolve) => {
    const request = http.get(url, { headers, agent: false, timeout: UPSTREAM_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) request.destroy(new Error('response too large'));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        if (status < 200 || status > 299)
          return resolve({ ok: false, status, error: `${url}: HTTP ${status}` });
        try {
          resolve({ ok: true, status, body: JSON.parse(Buffer.concat(chunks).toString()) });
        } catch {
          resolve({ ok: false, status: 502, error: `${url}: the answer is not JSON` });
        }
      });
      response.on('error', (error) => resolve({ ok: false, status: 503, error: `${url}: ${error.message}` }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${UPSTREAM_TIMEOUT_MS} ms`)));
    request.on('error', (error) => resolve({ ok: false, status: 503, error: `${url}: ${error.message}` }));
  });
}

/**
 * The stand-in for `httpbin`, `kennethreitz/httpbin` and `mccutchen/go-httpbin`: the endpoints tests and
 * tutorials use, answering as httpbin does (JSON with `args`, `headers`, `origin`, `url`...).
 *
 *   /get /post /put /patch /delete   the request as seen (method-checked)
 *   /anything[/...]                   the request as seen, any method
 *   /headers /ip /user-agent /uuid    one part of it
 *   /status/<code>[,<code>...]        that status (one picked at random from a list)
 *   /delay/<seconds>                  the request as seen, after up to 10 s
 *   /bytes/<n>                        n random bytes (at most 100 KiB)
 *   /response-headers?k=v             those headers set on the response
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { type AppRequest, sendJson, sendText, serveHttp } from './http-app.ts';

const MAX_DELAY_SECONDS = 10;
const MAX_BYTES = 100 * 1024;
const METHOD_ROUTES: Record<string, string> = {
  '/get': 'GET',
  '/post': 'POST',
  '/put': 'PUT',
  '/patch': 'PATCH',
  '/delete': 'DELETE',
};

export function run(options: { port: number }): Promise<number> {
  return serveHttp(options.port, httpbin);
}

export async function httpbin(request: AppRequest, response: ServerResponse): Promise<void> {
  const path = request.url.pathname;
  const [, first = '', second = ''] = path.split('/');
  const method = METHOD_ROUTES[path];
  if (method !== undefined) {
    if (request.method !== method && !(method === 'GET' && request.method === 'HEAD')) {
      return sendText(response, 405, `method not allowed: ${path} takes ${method}\n`);
    }
    return sendJson(response, 200, described(request, method !== 'GET'));
  }
  switch (first) {
    case '':
      return sendText(
        response,
        200,
        `httpbin stand-in (Ambit): ${Object.keys(METHOD_ROUTES).join(' ')} /anything /headers /ip /user-agent /uuid /status/N /delay/N /bytes/N /response-headers\n`,
      );
    case 'anything':
      return sendJson(response, 200, { ...described(request, true), method: request.method });
    case 'headers':
      return sendJson(response, 200, { headers: headersOf(request) });
    case 'ip':
      return sendJson(response, 200, { origin: originOf(request) });
    case 'user-agent':
      return sendJson(response, 200, { 'user-agent': request.message.headers['user-agent'] ?? '' });
    case 'uuid':
      return sendJson(response, 200, { uuid: randomUUID() });
    case 'status':
      return status(second, response);
    case 'delay': {
      const seconds = Number(second);
      if (!Number.isFinite(seconds) || seconds < 0) return sendText(response, 400, 'delay takes seconds\n');
      await new Promise((resolve) => setTimeout(resolve, Math.min(seconds, MAX_DELAY_SECONDS) * 1000));
      return sendJson(response, 200, described(request, false));
    }
    case 'bytes': {
      const count = Number(second);
      if (!Number.isInteger(count) || count < 0) return sendText(response, 400, 'bytes takes a count\n');
      const body = randomBytes(Math.min(count, MAX_BYTES));
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      response.end(body);
      return;
    }
    case 'response-headers': {
      const body: Record<string, string> = {};
      for (const [key, value] of request.url.searchParams) {
        response.setHeader(key, value);
        body[key] = value;
      }
      return sendJson(response, 200, body);
    }
    default:
      return sendText(response, 404, `not found: ${path}\n`);
  }
}

/** `/status/418` or `/status/200,503`: a code, or one at random from a list (httpbin's weights omitted). */
function status(list: string, response: ServerResponse): void {
  const codes = list.split(',').map(Number);
  if (codes.length === 0 || !codes.every((code) => Number.isInteger(code) && code >= 100 && code <= 599)) {
    sendText(response, 400, 'status takes codes between 100 and 599\n');
    return;
  }
  const code = codes[Math.floor(Math.random() * codes.length)]!;
  response.writeHead(code);
  response.end();
}

/** Header names as httpbin shows them, canonical (`X-Request-Id`), values of a repeated header joined. */
function headersOf(request: AppRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  const raw = request.message.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index]!.toLowerCase().replace(
      /(^|-)([a-z])/g,
      (_match, dash: string, letter: string) => `${dash}${letter.toUpperCase()}`,
    );
    headers[name] = headers[name] === undefined ? raw[index + 1]! : `${headers[name]},${raw[index + 1]}`;
  }
  return headers;
}

function originOf(request: AppRequest): string {
  const forwarded = request.message.headers['x-forwarded-for'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  return first || (request.message.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

function described(request: AppRequest, withBody: boolean) {
  const args: Record<string, string | string[]> = {};
  for (const [key, value] of request.url.searchParams) {
    const previous = args[key];
    args[key] =
      previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  const host = request.message.headers.host ?? 'localhost';
  const body = request.body.toString('utf8');
  const contentType = request.message.headers['content-type'] ?? '';
  let json: unknown = null;
  if (contentType.includes('json')) {
    try {
      json = JSON.parse(body);
    } catch {
      json = null;
    }
  }
  const form = contentType.includes('application/x-www-form-urlencoded')
    ? Object.fromEntries(new URLSearchParams(body))
    : {};
  return {
    args,
    headers: headersOf(request),
    origin: originOf(request),
    url: `http://${host}${request.url.pathname}${request.url.search}`,
    ...(withBody ? { data: body, form, json, files: {} } : {}),
  };
}

/** The stand-in for Bookinfo's `details` service: `GET /details/<id>` describes the book. */
import { type Handler, sendJson, serveHttp } from './http-app.ts';

export function run(options: { port: number }): Promise<number> {
  return serveHttp(options.port, details);
}

export const details: Handler = (request, response) => {
  const match = /^\/details\/(\d+)$/.exec(request.url.pathname);
  if (request.url.pathname === '/health') return sendJson(response, 200, { status: 'Details is healthy' });
  if (!match) return sendJson(response, 404, { error: 'not found: try /details/0' });
  sendJson(response, 200, {
    id: Number(match[1]),
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  });
};

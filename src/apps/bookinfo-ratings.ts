/** The stand-in for Bookinfo's `ratings` service: `GET /ratings/<id>` gives each reviewer's stars. */
import { type Handler, sendJson, serveHttp } from './http-app.ts';

export function run(options: { port: number }): Promise<number> {
  return serveHttp(options.port, ratings);
}

export const ratings: Handler = (request, response) => {
  const match = /^\/ratings\/(\d+)$/.exec(request.url.pathname);
  if (request.url.pathname === '/health') return sendJson(response, 200, { status: 'Ratings is healthy' });
  if (!match) return sendJson(response, 404, { error: 'not found: try /ratings/0' });
  sendJson(response, 200, { id: Number(match[1]), ratings: { Reviewer1: 5, Reviewer2: 4 } });
};

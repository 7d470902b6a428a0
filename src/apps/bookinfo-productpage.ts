/**
 * The stand-in for Bookinfo's `productpage`: `GET /productpage` renders one book's page from `details` and
 * `reviews` (which version answered shows: no stars, black stars, red stars, and "Reviews served by"), and
 * the JSON API under `/api/v1/products`. `POST /login` (form field `username`) sets the session cookie; the
 * page then sends the user as the `end-user` header upstream, which is what Istio's request-routing task
 * matches on. Every upstream call carries the request's trace headers.
 */
import type { ServerResponse } from 'node:http';
import { getJson, propagatedHeaders, serviceUrl, type UpstreamResult } from './bookinfo-upstream.ts';
import { type AppRequest, type Handler, sendJson, sendText, serveHttp } from './http-app.ts';

const PRODUCTS = [
  { id: 0, title: 'The Comedy of Errors', descriptionHtml: 'A comedy of mistaken identities, in Ephesus.' },
];
const SESSION_COOKIE = 'session';

export function run(options: { port: number }): Promise<number> {
  return serveHttp(options.port, productpage());
}

/** `env` names the upstreams (`DETAILS_HOSTNAME`, `REVIEWS_HOSTNAME`, `SERVICES_DOMAIN`...). */
export function productpage(env: NodeJS.ProcessEnv = process.env): Handler {
  return (request, response) => route(request, response, env);
}

async function route(request: AppRequest, response: ServerResponse, env: NodeJS.ProcessEnv): Promise<void> {
  const path = request.url.pathname;
  const user = sessionUser(request);
  const headers = propagatedHeaders(request.message.headers);
  if (user) headers['end-user'] = user;
  if (path === '/' || path === '/index.html') {
    return sendText(
      response,
      200,
      '<html><body><a href="/productpage">Bookinfo product page</a></body></html>\n',
      'text/html',
    );
  }
  if (path === '/health') return sendJson(response, 200, { status: 'Product page is healthy' });
  if (path === '/login' && request.method === 'POST') {
    const name = new URLSearchParams(request.body.toString()).get('username') ?? '';
    response.writeHead(302, {
      location: '/productpage',
      'set-cookie': `${SESSION_COOKIE}=${encodeURIComponent(name)}; Path=/`,
    });
    return void response.end();
  }
  if (path === '/logout') {
    response.writeHead(302, {
      location: '/productpage',
      'set-cookie': `${SESSION_COOKIE}=; Path=/; Max-Age=0`,
    });
    return void response.end();
  }
  if (path === '/productpage') return productPage(response, headers, user, env);
  if (path === '/api/v1/products') return sendJson(response, 200, PRODUCTS);
  const api = /^\/api\/v1\/products\/(\d+)(\/reviews|\/ratings)?$/.exec(path);
  if (api) {
    const [, id, part] = api;
    const upstream =
      part === '/reviews'
        ? serviceUrl('reviews', `/reviews/${id}`, env)
        : part === '/ratings'
          ? serviceUrl('ratings', `/ratings/${id}`, env)
          : serviceUrl('details', `/details/${id}`, env);
    const result = await getJson(upstream, headers);
    return sendJson(
      response,
      result.ok ? 200 : result.status,
      result.ok ? result.body : { error: result.error },
    );
  }
  sendText(response, 404, 'not found: try /productpage\n');
}

function sessionUser(request: AppRequest): string | undefined {
  for (const part of (request.message.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === SESSION_COOKIE && value.join('=')) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

interface ReviewsBody {
  podname?: string;
  reviews?: { reviewer: string; text: string; rating?: { stars?: number; color?: string; error?: string } }[];
}

async function productPage(
  response: ServerResponse,
  headers: Record<string, string>,
  user: string | undefined,
  env: NodeJS.ProcessEnv,
) {
  const product = PRODUCTS[0]!;
  const [details, reviews] = await Promise.all([
    getJson(serviceUrl('details', `/details/${product.id}`, env), headers),
    getJson(serviceUrl('reviews', `/reviews/${product.id}`, env), headers),
  ]);
  const html = [
    '<!DOCTYPE html>',
    `<html><head><title>Simple Bookstore App</title></head><body>`,
    `<p>${user ? `signed in as <b>${escapeHtml(user)}</b> (<a href="/logout">sign out</a>)` : '<form method="post" action="/login">user <input name="username"> <button>Sign in</button></form>'}</p>`,
    `<h1>${escapeHtml(product.title)}</h1>`,
    `<p>${product.descriptionHtml}</p>`,
    '<h2>Book Details</h2>',
    renderDetails(details),
    '<h2>Book Reviews</h2>',
    renderReviews(reviews),
    '</body></html>',
    '',
  ].join('\n');
  sendText(response, 200, html, 'text/html');
}

function renderDetails(result: UpstreamResult): string {
  if (!result.ok)
    return '<p class="error">Sorry, product details are currently unavailable for this book.</p>';
  const rows = Object.entries(result.body as Record<string, unknown>)
    .filter(([key]) => key !== 'id')
    .map(([key, value]) => `<dt>${escapeHtml(key)}</dt><dd>${escapeHtml(String(value))}</dd>`);
  return `<dl>${rows.join('')}</dl>`;
}

function renderReviews(result: UpstreamResult): string {
  if (!result.ok)
    return '<p class="error">Sorry, product reviews are currently unavailable for this book.</p>';
  const body = result.body as ReviewsBody;
  const items = (body.reviews ?? []).map((review) => {
    const rating = review.rating;
    let stars = '';
    if (rating?.error) stars = `<p class="error">${escapeHtml(rating.error)}</p>`;
    else if (rating?.stars !== undefined) {
      const color = rating.color === 'red' ? 'red' : 'black';
      stars = `<p class="stars"><font color="${color}">${'&#9733;'.repeat(rating.stars)}${'&#9734;'.repeat(5 - rating.stars)}</font></p>`;
    }
    return `<blockquote><p>${escapeHtml(review.text)}</p><small>${escapeHtml(review.reviewer)}</small>${stars}</blockquote>`;
  });
  return `${items.join('\n')}\n<p>Reviews served by: <span class="podname">${escapeHtml(body.podname ?? 'unknown')}</span></p>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

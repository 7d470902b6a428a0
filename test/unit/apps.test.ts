/**
 * The image stand-ins on real loopback servers: httpbin's endpoints, helloworld's answer, and Bookinfo's
 * chain (productpage -> details and reviews -> ratings) with the versions' visible differences, the trace
 * and user headers carried on every hop, and a ratings outage shown as Bookinfo shows it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { details } from '../../src/apps/bookinfo-details.ts';
import { productpage } from '../../src/apps/bookinfo-productpage.ts';
import { ratings } from '../../src/apps/bookinfo-ratings.ts';
import { reviews } from '../../src/apps/bookinfo-reviews.ts';
import { propagatedHeaders, serviceUrl } from '../../src/apps/bookinfo-upstream.ts';
import { helloworld } from '../../src/apps/helloworld.ts';
import { type Handler, type RunningApp, startHttp } from '../../src/apps/http-app.ts';
import { httpbin } from '../../src/apps/httpbin.ts';

const running: RunningApp[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
});

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
type Json = any;

async function json(response: Promise<Response>): Promise<Json> {
  return (await response).json();
}

async function serve(handler: Handler): Promise<string> {
  const app = await startHttp(0, handler, '127.0.0.1');
  running.push(app);
  return `http://127.0.0.1:${app.port}`;
}

/** A ratings server that records the headers each request arrived with. */
function recording(seen: IncomingHttpHeaders[], handler: Handler): Handler {
  return (request, response) => {
    seen.push(request.message.headers);
    return handler(request, response);
  };
}

describe('httpbin', () => {
  let base = '';
  beforeAll(async () => {
    base = await serve(httpbin);
  });

  it.each([
    ['/status/418', 'GET', 418],
    ['/status/200,200', 'GET', 200],
    ['/status/abc', 'GET', 400],
    ['/get', 'POST', 405],
    ['/post', 'POST', 200],
    ['/anything/deep/path', 'DELETE', 200],
    ['/nope', 'GET', 404],
  ])('%s by %s answers %i', async (path, method, status) => {
    expect((await fetch(`${base}${path}`, { method })).status).toBe(status);
  });

  it('describes the request: args, canonical header names, origin, url, and the body of a POST', async () => {
    const get = await json(fetch(`${base}/get?a=1&a=2&b=x`, { headers: { 'x-request-id': 'r1' } }));
    expect(get).toMatchObject({ args: { a: ['1', '2'], b: 'x' }, origin: '127.0.0.1' });
    expect(get.headers['X-Request-Id']).toBe('r1');
    expect(get.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/get\?a=1&a=2&b=x$/);
    const post = await json(
      fetch(`${base}/post`, {
        method: 'POST',
        body: '{"k":1}',
        headers: { 'content-type': 'application/json' },
      }),
    );
    expect(post).toMatchObject({ data: '{"k":1}', json: { k: 1 } });
    const headers = await (await fetch(`${base}/response-headers?x-test=yes`)).headers.get('x-test');
    expect(headers).toBe('yes');
    expect((await (await fetch(`${base}/bytes/10`)).arrayBuffer()).byteLength).toBe(10);
    expect((await json(fetch(`${base}/uuid`))).uuid).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('helloworld', () => {
  it('answers with its version and pod', async () => {
    const base = await serve(helloworld('v2', { POD_NAME: 'helloworld-v2-abc' }));
    expect(await (await fetch(`${base}/hello`)).text()).toBe(
      'Hello version: v2, instance: helloworld-v2-abc\n',
    );
  });
});

describe('Bookinfo', () => {
  const ratingsSeen: IncomingHttpHeaders[] = [];
  const env: NodeJS.ProcessEnv = {};
  const hostPort = (url: string) => new URL(url);

  beforeAll(async () => {
    const ratingsUrl = hostPort(await serve(recording(ratingsSeen, ratings)));
    const detailsUrl = hostPort(await serve(details));
    const upstream = { RATINGS_HOSTNAME: ratingsUrl.hostname, RATINGS_SERVICE_PORT: ratingsUrl.port };
    for (const version of ['v1', 'v2', 'v3']) {
      const url = hostPort(await serve(reviews(version, { ...upstream, POD_NAME: `reviews-${version}` })));
      env[`REVIEWS_${version}`] = url.port;
    }
    Object.assign(env, { DETAILS_HOSTNAME: detailsUrl.hostname, DETAILS_SERVICE_PORT: detailsUrl.port });
  });

  async function page(version: string, headers: Record<string, string> = {}) {
    const base = await serve(
      productpage({ ...env, REVIEWS_HOSTNAME: '127.0.0.1', REVIEWS_SERVICE_PORT: env[`REVIEWS_${version}`] }),
    );
    return (await fetch(`${base}/productpage`, { headers })).text();
  }

  it.each([
    ['v1', undefined],
    ['v2', 'black'],
    ['v3', 'red'],
  ])('reviews %s shows stars in %s', async (version, color) => {
    const html = await page(version);
    expect(html).toContain('William Shakespeare');
    expect(html).toContain(`Reviews served by: <span class="podname">reviews-${version}</span>`);
    const colors = [...html.matchAll(/<font color="(\w+)">/g)].map((match) => match[1]);
    expect(colors).toEqual(color ? [color, color] : []);
  });

  it('carries the trace and user headers to every hop, and the signed-in user as end-user', async () => {
    ratingsSeen.length = 0;
    await page('v2', {
      'x-request-id': 'req-7',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-b3-traceid': '0af7651916cd43dd',
      cookie: 'session=jason',
      'x-not-propagated': 'no',
    });
    expect(ratingsSeen).toHaveLength(1);
    expect(ratingsSeen[0]).toMatchObject({
      'x-request-id': 'req-7',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-b3-traceid': '0af7651916cd43dd',
      'end-user': 'jason',
    });
    expect(ratingsSeen[0]!['x-not-propagated']).toBeUndefined();
  });

  it('shows a ratings outage in place of the stars, and missing details as unavailable', async () => {
    const base = await serve(reviews('v3', { RATINGS_HOSTNAME: '127.0.0.1', RATINGS_SERVICE_PORT: '1' }));
    const body = await json(fetch(`${base}/reviews/0`));
    expect(body.reviews.map((review: { rating: unknown }) => review.rating)).toEqual([
      { error: 'Ratings service is currently unavailable' },
      { error: 'Ratings service is currently unavailable' },
    ]);
    const alone = await serve(
      productpage({
        DETAILS_HOSTNAME: '127.0.0.1',
        DETAILS_SERVICE_PORT: '1',
        REVIEWS_HOSTNAME: '127.0.0.1',
        REVIEWS_SERVICE_PORT: '1',
      }),
    );
    const html = await (await fetch(`${alone}/productpage`)).text();
    expect(html).toContain('product details are currently unavailable');
    expect(html).toContain('product reviews are currently unavailable');
  });

  it.each([
    [{}, 'details', 'http://details:9080/x'],
    [
      { SERVICES_DOMAIN: 'shop.svc.cluster.local' },
      'reviews',
      'http://reviews.shop.svc.cluster.local:9080/x',
    ],
    [{ RATINGS_HOSTNAME: 'r.example', RATINGS_SERVICE_PORT: '81' }, 'ratings', 'http://r.example:81/x'],
  ] as const)('finds upstream %s as %s', (environment, service, url) => {
    expect(serviceUrl(service, '/x', environment)).toBe(url);
  });

  it('propagates only the listed headers, joining repeated ones', () => {
    expect(
      propagatedHeaders({ 'x-request-id': 'a', 'x-other': 'b', b3: '1-2-1', 'user-agent': 'ua' }),
    ).toEqual({
      'x-request-id': 'a',
      b3: '1-2-1',
      'user-agent': 'ua',
    });
  });
});

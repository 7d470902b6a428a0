/**
 * The stand-in for Bookinfo's `reviews` service in its three versions: `GET /reviews/<id>` lists two
 * reviews; v1 shows no ratings, v2 asks `ratings` and shows black stars, v3 red stars. If ratings cannot be
 * reached the reviews still come back, each with an error in place of its rating (as the real service does).
 */
import { getJson, propagatedHeaders, serviceUrl } from './bookinfo-upstream.ts';
import { type Handler, podName, sendJson, serveHttp } from './http-app.ts';

const REVIEWS = [
  { reviewer: 'Reviewer1', text: 'Quick, loud and very funny: the confusion never lets up.' },
  { reviewer: 'Reviewer2', text: 'Good fun on stage, if lighter than the great tragedies.' },
];
const STAR_COLOR: Record<string, string | undefined> = { v1: undefined, v2: 'black', v3: 'red' };

export function run(options: { port: number; version: string }): Promise<number> {
  return serveHttp(options.port, reviews(options.version));
}

/** `env` names the upstream (`RATINGS_HOSTNAME`...) and the pod (`POD_NAME`). */
export function reviews(version: string, env: NodeJS.ProcessEnv = process.env): Handler {
  const color = STAR_COLOR[version];
  return async (request, response) => {
    if (request.url.pathname === '/health') return sendJson(response, 200, { status: 'Reviews is healthy' });
    const match = /^\/reviews\/(\d+)$/.exec(request.url.pathname);
    if (!match) return sendJson(response, 404, { error: 'not found: try /reviews/0' });
    const id = match[1]!;
    let ratings: Record<string, number> | undefined;
    let ratingsError: string | undefined;
    if (color !== undefined) {
      const result = await getJson(
        serviceUrl('ratings', `/ratings/${id}`, env),
        propagatedHeaders(request.message.headers),
      );
      if (result.ok) ratings = (result.body as { ratings?: Record<string, number> }).ratings ?? {};
      else ratingsError = 'Ratings service is currently unavailable';
    }
    sendJson(response, 200, {
      id,
      podname: podName(env),
      clustername: 'null',
      reviews: REVIEWS.map((review) => ({
        ...review,
        ...(color === undefined
          ? {}
          : {
              rating: ratingsError
                ? { error: ratingsError }
                : { stars: ratings?.[review.reviewer] ?? 0, color },
            }),
      })),
    });
  };
}

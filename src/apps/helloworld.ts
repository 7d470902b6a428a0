/**
 * The stand-in for Istio's `examples-helloworld-v1|v2`: `GET /hello` answers
 * `Hello version: <version>, instance: <pod>`, and `/health` says it is healthy.
 */
import { podName, sendText, serveHttp } from './http-app.ts';

export function run(options: { port: number; version: string }): Promise<number> {
  return serveHttp(options.port, (request, response) => {
    if (request.url.pathname === '/hello') {
      sendText(response, 200, `Hello version: ${options.version}, instance: ${podName()}\n`);
    } else if (request.url.pathname === '/health') {
      sendText(response, 200, 'Helloworld is healthy\n');
    } else {
      sendText(response, 404, 'not found: try /hello\n');
    }
  });
}

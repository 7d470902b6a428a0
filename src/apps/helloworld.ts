/**
 * The stand-in for Istio's `examples-helloworld-v1|v2`: `GET /hello` answers
 * `Hello version: <version>, instance: <pod>`, and `/health` says it is healthy.
 */
import { type Handler, podName, sendText, serveHttp } from './http-app.ts';

export function run(options: { port: number; version: string }): Promise<number> {
  return serveHttp(options.port, helloworld(options.version));
}

export function helloworld(version: string, env: NodeJS.ProcessEnv = process.env): Handler {
  return (request, response) => {
    if (request.url.pathname === '/hello') {
      sendText(response, 200, `Hello version: ${version}, instance: ${podName(env)}\n`);
    } else if (request.url.pathname === '/health') {
      sendText(response, 200, 'Helloworld is healthy\n');
    } else {
      sendText(response, 404, 'not found: try /hello\n');
    }
  };
}

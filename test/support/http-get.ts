/** A plain HTTP request from a test (TCP or a unix socket), with the whole body read as text. */
import { request } from 'node:http';

export interface HttpGetOptions {
  socketPath?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  path: string;
  method?: string | undefined;
}

export function httpGet(options: HttpGetOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...options, method: options.method ?? 'GET' }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Reading a ztunnel's admin API from the CLI: over the unix socket in the cluster's state directory (the
 * CLI never reaches cluster addresses over the network). Where the sockets live is decided here.
 */
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { AmbitError } from '../core/errors.ts';

/** `<state dir>/ztunnel/<node>.admin.sock`: one per node's ztunnel. */
export function adminSocketPath(clusterStateDir: string, node: string): string {
  return join(clusterStateDir, 'ztunnel', `${node}.admin.sock`);
}

/** The nodes whose ztunnel has an admin socket in the cluster's state directory, sorted. */
export function nodesWithAdminSockets(clusterStateDir: string): string[] {
  try {
    return readdirSync(join(clusterStateDir, 'ztunnel'))
      .filter((name) => name.endsWith('.admin.sock'))
      .map((name) => name.slice(0, -'.admin.sock'.length))
      .sort();
  } catch {
    return [];
  }
}

/** GETs `path` from the admin API on `socketPath` and parses the JSON answer. */
export function adminGet(socketPath: string, path: string, timeoutMs = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(
            new AmbitError('UNAVAILABLE', `ztunnel admin ${path} answered ${res.statusCode}: ${body.trim()}`),
          );
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new AmbitError('UNAVAILABLE', `ztunnel admin ${path} did not answer JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new AmbitError(
          'UNAVAILABLE',
          `cannot reach the ztunnel admin socket ${socketPath}: ${error.code ?? error.message} (is the cluster up and its ztunnel running?)`,
        ),
      ),
    );
    req.end();
  });
}

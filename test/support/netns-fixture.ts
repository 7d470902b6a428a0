/**
 * A pair of network namespaces joined by a veth, made for one test run: a "client" namespace (stands for the
 * rest of the cluster) and a "pod" namespace (where capture rules and listeners go). Names carry a random
 * suffix, so parallel runs on the same machine never collide; `destroy()` removes everything and is safe to
 * call twice. Neither namespace has a way out of the machine: the client namespace has no other interface,
 * so a packet that escapes capture dies there.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { endStdin } from '../../src/core/sys/child-stdin.ts';

export interface NetnsPair {
  client: string;
  pod: string;
  clientPath: string;
  podPath: string;
  clientIp: string;
  podIp: string;
  clientIp6: string;
  podIp6: string;
  destroy(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Runs a command inside a namespace and resolves with its stdout (rejects on a non-zero exit). Asynchronous,
 * so that servers in the test process keep answering while the command runs.
 */
export function nsExec(netns: string, argv: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'ip',
      ['netns', 'exec', netns, ...argv],
      { encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${argv.join(' ')} in ${netns}: ${error.message}${stderr}`));
        else resolve(stdout);
      },
    );
    endStdin(child, input);
  });
}

export function uniqueSuffix(): string {
  return randomBytes(3).toString('hex');
}

export function createNetnsPair(prefix = 'rd'): NetnsPair {
  const id = uniqueSuffix();
  const client = `${prefix}c-${id}`;
  const pod = `${prefix}p-${id}`;
  const vethClient = `${prefix}${id}c`;
  const vethPod = `${prefix}${id}p`;
  const created: string[] = [];
  const destroy = () => {
    for (const name of created.splice(0).reverse()) {
      try {
        ip('netns', 'del', name);
      } catch {
        // already gone
      }
    }
  };
  try {
    for (const name of [client, pod]) {
      ip('netns', 'add', name);
      created.push(name);
      ip('-n', name, 'link', 'set', 'lo', 'up');
    }
    ip('link', 'add', vethClient, 'netns', client, 'type', 'veth', 'peer', 'name', vethPod, 'netns', pod);
    const pair: NetnsPair = {
      client,
      pod,
      clientPath: `/run/netns/${client}`,
      podPath: `/run/netns/${pod}`,
      clientIp: '10.200.0.1',
      podIp: '10.200.0.2',
      clientIp6: 'fd00:a4b::1',
      podIp6: 'fd00:a4b::2',
      destroy,
    };
    for (const [ns, dev, v4, v6] of [
      [client, vethClient, pair.clientIp, pair.clientIp6],
      [pod, vethPod, pair.podIp, pair.podIp6],
    ] as const) {
      ip('-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev);
      ip('-n', ns, '-6', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    // The pod sends everything to the client namespace, like a pod to its node: "any address" is reachable
    // by route, so a connection that escapes capture gets as far as the client namespace and no further.
    ip('-n', pod, 'route', 'add', 'default', 'via', pair.clientIp);
    ip('-n', pod, '-6', 'route', 'add', 'default', 'via', pair.clientIp6);
    return pair;
  } catch (error) {
    destroy();
    throw error;
  }
}

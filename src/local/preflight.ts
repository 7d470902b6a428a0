/**
 * Host checks made before anything is created. Pods run as unprivileged users; if such a user cannot read
 * this checkout (a home directory with mode 0750, say) or reach the state directory (where the pods' `bin`
 * lives), every `ambit` pod would crash-loop for a reason that is hard to see, so `up` refuses with the fix
 * instead.
 */
import { AmbitError } from '../core/errors.ts';
import { AMBIT_ENTRY } from './processes.ts';
import { run } from './run.ts';
import type { ClusterState } from './types.ts';

const USES_CHECKOUT = new Set(['ambit', 'node']);

export async function checkPodUsers(cluster: ClusterState, stateRoot: string): Promise<void> {
  const users = new Map<string, string[]>();
  for (const pod of cluster.pods) {
    if (pod.runAsUser === 0 || !USES_CHECKOUT.has(pod.container.argv[0] ?? '')) continue;
    const key = `${pod.runAsUser}:${pod.runAsGroup}`;
    users.set(key, [...(users.get(key) ?? []), pod.uid]);
  }
  for (const [key, pods] of users) {
    const [uid, gid] = key.split(':');
    try {
      await run([
        'setpriv',
        `--reuid=${uid}`,
        `--regid=${gid}`,
        '--clear-groups',
        '--',
        'test',
        '-r',
        AMBIT_ENTRY,
        '-a',
        '-x',
        process.execPath,
        '-a',
        '-x',
        stateRoot,
      ]);
    } catch {
      throw new AmbitError(
        'PREREQUISITE',
        `pods ${pods.slice(0, 3).join(', ')}${pods.length > 3 ? ', ...' : ''} run as uid ${uid}, which cannot read ${AMBIT_ENTRY}, run ${process.execPath} or enter ${stateRoot}: ` +
          'let other users read the checkout and the state directory (chmod o+rx on them and their parent directories) or set securityContext.runAsUser',
      );
    }
  }
}

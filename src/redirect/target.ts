/** Naming the namespace to act on, the three ways operators do: a named netns, a path, or a process. */
import { UsageError } from '../core/errors.ts';
import type { NetnsTarget } from './exec.ts';

export interface TargetSpec {
  /** `ip netns` name: /run/netns/<name>. */
  name?: string | undefined;
  path?: string | undefined;
  pid?: string | number | undefined;
}

export function resolveTarget(spec: TargetSpec): NetnsTarget {
  const given = [spec.name, spec.path, spec.pid].filter((value) => value !== undefined);
  if (given.length !== 1)
    throw new UsageError('name exactly one namespace: --netns <name>, --netns-path <path> or --pid <pid>');
  if (spec.name !== undefined) {
    if (!/^[\w.-]+$/.test(spec.name) || spec.name === '.' || spec.name === '..') {
      throw new UsageError(`--netns ${JSON.stringify(spec.name)}: not a netns name (see \`ip netns list\`)`);
    }
    return { path: `/run/netns/${spec.name}` };
  }
  if (spec.path !== undefined) {
    if (!spec.path.startsWith('/'))
      throw new UsageError(`--netns-path ${JSON.stringify(spec.path)}: must be absolute`);
    return { path: spec.path };
  }
  const pid = String(spec.pid);
  if (!/^[1-9]\d*$/.test(pid)) throw new UsageError(`--pid ${JSON.stringify(pid)}: not a process id`);
  return { path: `/proc/${pid}/ns/net` };
}

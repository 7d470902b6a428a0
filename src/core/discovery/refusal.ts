/**
 * How a data plane refuses a snapshot its boundary check found problems in: one `SNAPSHOT_INVALID` error
 * naming the first problems (the discovery client NACKs with its message; the previous snapshot stays).
 */
import { AmbitError } from '../errors.ts';

const SHOWN = 10;

/** Throws when `problems` is not empty; `what` names the refused thing (`snapshot "v3"`, `route table`). */
export function refuseIfProblems(what: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  const more = problems.length > SHOWN ? `; and ${problems.length - SHOWN} more` : '';
  throw new AmbitError('SNAPSHOT_INVALID', `${what} refused: ${problems.slice(0, SHOWN).join('; ')}${more}`);
}

/**
 * Integration tests need root and the netns tools. Where they cannot run, they must not pass in silence:
 * under CI=true a missing privilege fails the suite; on a developer's machine the suite is skipped with a
 * loud message saying why.
 */
import { execFileSync } from 'node:child_process';

function missingPrerequisite(): string | undefined {
  if (process.platform !== 'linux') return 'integration tests need Linux network namespaces';
  if (process.getuid?.() !== 0) return 'integration tests need root (they create network namespaces)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'integration tests need iproute2 (`ip`)';
  }
  return undefined;
}

/** Returns true when the suite can run; throws under CI when it cannot. Use with `describe.runIf(...)`. */
export function canRunNetnsTests(): boolean {
  const missing = missingPrerequisite();
  if (missing === undefined) return true;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${missing}: refusing to skip`);
  console.warn(`\n*** SKIPPING integration tests: ${missing} ***\n`);
  return false;
}

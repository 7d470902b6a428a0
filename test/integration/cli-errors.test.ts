/**
 * What the real `ambit` prints when it is called wrong or fails: a bad argument is a usage error (exit
 * status 2, the command's help, never a stack trace), a failure shows its public code and hint.
 */
import { describe, expect, it } from 'vitest';
import { ERRORS, publicCode } from '../../src/core/errors.ts';
import { ambit } from '../support/cli.ts';

describe('ambit errors', () => {
  it.each([
    ['get', ['get', '--bogus'], 'Usage: ambit get'],
    ['analyze', ['analyze', '--bogus'], 'Usage: ambit analyze'],
    ['apply', ['apply', '--filename'], 'Usage: ambit apply'],
    ['control', ['control', '--bogus'], 'Usage: ambit control'],
    ['ztunnel-config', ['ztunnel-config', '--bogus'], 'Usage: ambit ztunnel-config'],
    ['ztunnel', ['ztunnel', '--bogus'], 'Usage: ambit ztunnel'],
    ['local', ['local', 'status', '--bogus'], 'Usage: ambit local'],
    ['local scale', ['local', 'scale', 'deployment/web', '--bogus'], 'Usage: ambit local'],
    ['local rollout', ['local', 'rollout', 'status', 'deployment/web', '--bogus'], 'Usage: ambit local'],
    ['echo', ['echo', '--bogus'], 'Usage: ambit echo'],
    ['app', ['app', 'httpbin', '--bogus'], 'Usage: ambit app'],
    ['waypoint apply', ['waypoint', 'apply', '--bogus'], 'Usage: ambit waypoint apply'],
    ['waypoint list', ['waypoint', 'list', '--for', 'everything'], 'Usage: ambit waypoint list'],
  ])('ambit %s refuses a bad argument with its help, no stack trace', async (_command, args, usage) => {
    const result = await ambit(args);
    expect(result.code, result.stderr).toBe(ERRORS.USAGE.exit);
    expect(result.stderr).toMatch(/^ambit [a-z-]+: /);
    expect(result.stderr).toContain(usage);
    expect(result.stderr).not.toMatch(/TypeError|ERR_PARSE_ARGS|\n\s+at /);
  });

  it('shows a failure with its public code and hint', async () => {
    const result = await ambit(['get', 'pods', '--socket', '/nonexistent/control.sock']);
    expect(result.code).toBe(ERRORS.UNAVAILABLE.exit);
    expect(result.stderr).toContain('cannot reach the control plane at /nonexistent/control.sock');
    expect(result.stderr).toContain(`${publicCode('UNAVAILABLE')}: ${ERRORS.UNAVAILABLE.hint}`);
  });
});

/**
 * The layering rules in biome.json fire: each case lints one importing file in a temporary copy of the
 * project's Biome configuration, so a rule that stops matching (a renamed folder, a broken pattern) fails
 * here instead of letting a part import across its boundary unnoticed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const BIOME = join(ROOT, 'node_modules/.bin/biome');

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ambit-layering-'));
  const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8')) as Record<string, unknown>;
  delete config.$schema;
  writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Lints `importer` (a path under src/) holding one import of `specifier`; the restricted-import findings. */
function restrictedImports(importer: string, specifier: string): string[] {
  const file = join(dir, importer);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `export { x } from '${specifier}';\n`);
  try {
    execFileSync(BIOME, ['lint', '--reporter=json', importer], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    return [];
  } catch (error) {
    const report = JSON.parse((error as { stdout: string }).stdout) as {
      diagnostics: { category: string }[];
    };
    return report.diagnostics.map((d) => d.category).filter((c) => c.endsWith('noRestrictedImports'));
  } finally {
    rmSync(file);
  }
}

describe('layering (biome.json noRestrictedImports)', () => {
  it.each([
    ['src/core/hbone/a.ts', '../../ztunnel/config.ts', true],
    ['src/core/a.ts', '../control/control-plane.ts', true],
    ['src/core/a.ts', '../local/up.ts', true],
    ['src/core/a.ts', '../redirect/model.ts', true],
    ['src/core/tls/a.ts', '../net/ip.ts', false],
    ['src/core/a.ts', './control-api/client.ts', false],
    ['src/ztunnel/proxy/a.ts', '../../redirect/agent.ts', true],
    ['src/ztunnel/a.ts', '../control/model/views.ts', true],
    ['src/ztunnel/a.ts', '../waypoint/index.ts', true],
    ['src/ztunnel/a.ts', '../cli/main.ts', true],
    ['src/ztunnel/a.ts', '../local/up.ts', true],
    ['src/ztunnel/proxy/a.ts', '../../core/hbone/pool.ts', false],
    ['src/ztunnel/proxy/a.ts', '../state/store.ts', false],
    ['src/kube/a.ts', '../control/config/store.ts', true],
    ['src/kube/a.ts', '../redirect/rules.ts', true],
    ['src/kube/manifests/a.ts', '../../core/ports.ts', false],
    ['src/cni/a.ts', '../ztunnel/index.ts', true],
    ['src/cni/a.ts', '../control/kinds.ts', true],
    ['src/cni/a.ts', '../redirect/enroll/client.ts', false],
    ['src/cni/a.ts', '../kube/client.ts', false],
    ['src/waypoint/a.ts', '../ztunnel/index.ts', true],
    ['src/waypoint/a.ts', '../control/kinds.ts', true],
    ['src/waypoint/a.ts', '../core/hbone/server.ts', false],
    ['src/control/a.ts', '../ztunnel/index.ts', true],
    ['src/control/a.ts', '../waypoint/index.ts', true],
    ['src/control/a.ts', '../local/up.ts', true],
    ['src/control/model/a.ts', '../../cli/main.ts', true],
    ['src/control/a.ts', '../core/policy/scope.ts', false],
    ['src/cli/a.ts', '../ztunnel/index.ts', false],
    ['src/cli/commands/a.ts', '../../ztunnel/app.ts', true],
    ['src/local/mesh/a.ts', '../../ztunnel/index.ts', false],
    ['src/local/mesh/a.ts', '../../ztunnel/settings.ts', true],
    ['src/local/mesh/a.ts', '../../control/ca/authority.ts', true],
    ['src/local/a.ts', '../core/control-api/client.ts', false],
    ['src/cli/commands/a.ts', '../../control/control-plane.ts', false],
    // The dashboard shows what explain shows from shared code, never by importing the CLI: explain's route
    // description and snapshot types are core's (src/core/explain, which imports no part), reading a local
    // cluster's snapshots is src/local's, and of the ztunnel it uses only the public surface.
    ['src/dashboard/a.ts', '../cli/explain/trace.ts', true],
    ['src/dashboard/ui/a.ts', '../../cli/explain/route-info.ts', true],
    ['src/dashboard/a.ts', '../ztunnel/state/store.ts', true],
    ['src/dashboard/a.ts', '../ztunnel/index.ts', false],
    ['src/dashboard/a.ts', '../core/explain/route-view.ts', false],
    ['src/dashboard/ui/a.ts', '../../core/explain/route-info.ts', false],
    ['src/dashboard/a.ts', '../local/mesh/snapshots.ts', false],
    ['src/cli/explain/a.ts', '../../core/explain/mesh-snapshots.ts', false],
    ['src/core/explain/a.ts', '../../cli/explain/trace.ts', true],
    ['src/core/explain/a.ts', '../../ztunnel/index.ts', true],
  ])('%s importing %s is refused: %s', (importer, specifier, refused) => {
    const findings = restrictedImports(importer, specifier);
    expect(findings.length > 0).toBe(refused);
  });
});

/**
 * What the ztunnel's data plane loads at startup: a fresh Node process imports the `Ztunnel` and its metrics
 * and reports the built-in modules and packages it pulled in. prom-client's entry point loads its Pushgateway
 * (node:https, node:zlib), default process metrics (perf_hooks) and OpenTelemetry's API, ~2 MiB of the
 * ztunnel's idle RSS and far more in a bare process; the framer (the default HBONE) never needs node:http2.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const ztunnelModule = new URL('../../src/ztunnel/ztunnel.ts', import.meta.url).href;

interface Loaded {
  builtins: string[];
  packages: string[];
}

function loadedByZtunnel(): Loaded {
  const script = `
    await import(${JSON.stringify(ztunnelModule)});
    const { createRequire } = await import('node:module');
    const cache = createRequire(import.meta.url).cache;
    const builtins = process.moduleLoadList
      .filter((entry) => entry.startsWith('NativeModule '))
      .map((entry) => entry.slice('NativeModule '.length));
    process.stdout.write(JSON.stringify({ builtins, packages: Object.keys(cache) }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '--eval', script], { encoding: 'utf8' });
  return JSON.parse(out) as Loaded;
}

describe('ztunnel startup modules', () => {
  const loaded = loadedByZtunnel();

  it.each(['https', 'zlib', 'perf_hooks', 'http2'])('does not load node:%s', (builtin) => {
    // The probe itself works: what the ztunnel does need is in the list.
    expect(loaded.builtins).toContain('tls');
    expect(loaded.builtins).not.toContain(builtin);
  });

  it("loads prom-client's metric classes, not its entry point", () => {
    const promClient = loaded.packages.filter((path) => path.includes('/node_modules/prom-client/'));
    expect(promClient.some((path) => path.endsWith('/lib/counter.js'))).toBe(true);
    expect(promClient.filter((path) => path.endsWith('/prom-client/index.js'))).toEqual([]);
    expect(loaded.packages.filter((path) => path.includes('/@opentelemetry/'))).toEqual([]);
  });
});

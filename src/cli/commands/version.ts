import { readFileSync } from 'node:fs';

/** This checkout's version (package.json). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export async function run(): Promise<number> {
  process.stdout.write(`ambit ${packageVersion()} (node ${process.versions.node})\n`);
  return 0;
}

import { readFileSync } from 'node:fs';

export async function run(): Promise<number> {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  process.stdout.write(`ambit ${pkg.version} (node ${process.versions.node})\n`);
  return 0;
}

#!/usr/bin/env node
// Entry point of the `ambit` command. Ambit needs Node.js 24 (type stripping runs the TypeScript sources of a
// checkout directly, and the data path relies on Node 24's http2 and net behaviour), so an older runtime is
// refused here, before anything else loads, with a message that says how to get the right one.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);
// `npx ambit` may start us with the system's Node; the project's pinned runtime (installed by `npm ci` from the
// `node` package) is then used instead, so a checkout behaves the same on every machine.
const pinned = join(root, 'node_modules', '.bin', 'node');
if (major < 24 && existsSync(pinned)) {
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // The child is the real `ambit`: a SIGTERM or SIGHUP sent to this wrapper (by a supervisor, `kill`, a closing
  // terminal) is passed on, so the child never outlives it. Ctrl-C reaches the child from the terminal's
  // process group already; the wrapper only waits for it to finish (its rollback, for `local up`).
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  process.on('SIGINT', () => {});
  const [code, signal] = await new Promise((resolve) => child.on('exit', (...outcome) => resolve(outcome)));
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  process.exit(code ?? 1);
}
if (major < 24) {
  process.stderr.write(
    `ambit: Node.js ${process.versions.node} is too old; Ambit needs Node.js 24.\n` +
      '  The project pins its own runtime: run `npm ci` in the checkout, then `npx ambit ...` or `npm run ambit -- ...`\n' +
      '  (both put node_modules/.bin/node, Node 24, first on the PATH).\n',
  );
  process.exit(1);
}

// Every Ambit process (the CLI and each mesh process the supervisor starts, whose environment it scrubs) keeps
// V8's compiled code, and a checkout's type-stripped sources, on disk between starts: measured loading the CLI,
// ztunnel and local-cluster modules from a checkout, RSS after loading fell from 112 to 85 MiB, and a start under
// a software-emulated VM is several times faster. The cache is keyed by each file's content; NODE_COMPILE_CACHE
// chooses its directory (default: the system's temporary directory).
nodeModule.enableCompileCache();

// A checkout runs its TypeScript sources directly; an installed package runs the compiled dist/.
const sourceEntry = join(root, 'src', 'cli', 'main.ts');
const entry = existsSync(sourceEntry) ? sourceEntry : join(root, 'dist', 'cli', 'main.js');
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));

// Builds the dashboard's UI into dist/dashboard/: the page, its stylesheet, and one bundle of its script
// with Cytoscape.js (esbuild), so that nothing is fetched from elsewhere at run time.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const ui = new URL('../src/dashboard/ui/', import.meta.url);
const out = new URL('../dist/dashboard/', import.meta.url);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL('app.ts', ui).pathname],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2022',
  outfile: new URL('app.js', out).pathname,
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) copyFileSync(new URL(file, ui), new URL(file, out));
console.log(`dashboard built in ${out.pathname}`);

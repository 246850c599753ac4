// `npm run bench`: bundles the TypeScript benchmarks (Node 20 cannot run .ts) to bench/.tmp/ with every package
// left external, then runs them. The build of build/proxy.mjs happens first, in the npm script.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outfile = path.join(here, '.tmp', 'main.mjs');
// §1's OpenAI stand-in and bare pipe run as children of this script (bench/upstream-process.ts), from the bundle
// just built.
const pipeAt = process.argv.indexOf('--pipe-child');
const child = process.argv.includes('--upstream-child') || pipeAt >= 0;
if (!child)
  await esbuild.build({
    entryPoints: [path.join(here, 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'warning',
  });
const bundle = await import(pathToFileURL(outfile).href);
if (pipeAt >= 0) await bundle.runPipeChild(process.argv[pipeAt + 1]);
else if (child) await bundle.runUpstreamChild();
else await bundle.main(process.argv.slice(2));

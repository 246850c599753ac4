// `npm run bench`: bundles the TypeScript benchmarks to bench/.tmp/ with every package left external, then runs
// them (`node bench/run.mjs 5` runs section 5 alone). The build of build/ happens first, in the npm script.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outfile = path.join(here, '.tmp', 'main.mjs');

/**
 * §5 holds 1,000 event streams and 1,000 upstream calls: this process and the proxy it starts each need over 2,000
 * open files, where many systems start a shell at 1,024. The soft limit is raised to the hard one (children inherit
 * it); where that is impossible the bench says so and §5 may fail with EMFILE.
 */
function raiseOpenFilesLimit() {
  const pid = String(process.pid);
  try {
    const [soft, hard] = execFileSync('prlimit', ['--pid', pid, '--nofile', '--output', 'SOFT,HARD', '--noheadings'], {
      encoding: 'utf8',
    })
      .trim()
      .split(/\s+/);
    const wanted = hard === 'unlimited' ? '65536' : hard;
    if (soft !== 'unlimited' && Number(soft) < Number(wanted)) {
      execFileSync('prlimit', ['--pid', pid, `--nofile=${wanted}:${hard}`]);
      return `${wanted} (raised from ${soft})`;
    }
    return soft;
  } catch (error) {
    return `not raised (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
  }
}

process.env.FRAMEFILL_BENCH_NOFILE = raiseOpenFilesLimit();
await esbuild.build({
  entryPoints: [path.join(here, 'main.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  packages: 'external',
  outfile,
  logLevel: 'warning',
});
const bundle = await import(pathToFileURL(outfile).href);
await bundle.main(process.argv.slice(2));

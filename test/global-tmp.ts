// Every temporary folder of a test run (proxy data dirs, browser profiles, builds) is made inside one folder that
// is removed when the run ends, so runs do not pile their data dirs and images up in the system's temp folder.
// Test files and the processes they spawn find it through TMPDIR, which os.tmpdir() honours.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const runDir = mkdtempSync(path.join(tmpdir(), 'framefill-test-run-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = runDir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(runDir, { recursive: true, force: true });
  };
}

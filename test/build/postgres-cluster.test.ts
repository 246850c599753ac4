// The tests' throwaway PostgreSQL (test/helpers/postgres.ts): a run killed before its teardown leaves its server
// running, and the next run stops it and removes its folder; clusters of live runs are left alone.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeAbandonedClusters } from '../helpers/postgres';

function cluster(parent: string, owner: number | undefined, running: boolean): string {
  const dir = mkdtempSync(path.join(parent, 'framefill-pg-'));
  if (owner !== undefined) writeFileSync(path.join(dir, 'owner.pid'), String(owner));
  mkdirSync(path.join(dir, 'data'));
  if (running) writeFileSync(path.join(dir, 'data', 'postmaster.pid'), '4242\n');
  return dir;
}

describe('throwaway PostgreSQL clusters', () => {
  it('stops and removes those whose run has ended; keeps those of live runs and those naming no run', () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'clusters-'));
    // A process that has ended: its pid names no live process.
    const ended = spawnSync(process.execPath, ['-e', '']).pid!;
    const killedRun = cluster(parent, ended, true);
    const stoppedRun = cluster(parent, ended, false);
    const liveRun = cluster(parent, process.pid, true);
    const settingUp = cluster(parent, undefined, false);
    const other = mkdtempSync(path.join(parent, 'framefill-proxy-'));
    const stopped: string[] = [];
    removeAbandonedClusters(parent, (data) => stopped.push(data));
    expect(stopped).toEqual([path.join(killedRun, 'data')]);
    expect([killedRun, stoppedRun, liveRun, settingUp, other].map(existsSync)).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
  });

  it('removes an abandoned folder even when its server had already stopped', () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'clusters-'));
    const ended = spawnSync(process.execPath, ['-e', '']).pid!;
    const dir = cluster(parent, ended, true);
    removeAbandonedClusters(parent, () => {
      throw new Error('pg_ctl: no server running');
    });
    expect(existsSync(dir)).toBe(false);
  });
});

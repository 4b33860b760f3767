import * as fs from 'fs';
import * as path from 'path';
import { tmpDirPerTest } from '@lip/test-support';
import { commitFiles, committedPath, COMPLETE_MARKER, FileSet, planCommit, recoverCommit, STAGING_DIR } from './commit';

const OLD: FileSet = { 'model.json': '{"v":1}', 'weights.bin': new Uint8Array([1, 1, 1]), 'train.json': 'old' };
const NEW: FileSet = { 'model.json': '{"v":2}', 'weights.bin': new Uint8Array([2, 2, 2, 2]), 'train.json': 'new' };

function readSet(dir: string, resolve: (name: string) => string): string {
  const versions = new Set(
    Object.keys(OLD).map((name) => {
      const bytes = fs.readFileSync(resolve(name));
      const old = Buffer.from(OLD[name]);
      const neu = Buffer.from(NEW[name]);
      if (bytes.equals(old)) return 'old';
      if (bytes.equals(neu)) return 'new';
      return `garbage in ${name}`;
    }),
  );
  expect(versions.size).toBe(1); // never a mix of two checkpoints
  return [...versions][0];
}

describe('commitFiles', () => {
  const tmp = tmpDirPerTest('commit');

  it('writes every file and leaves no staging folder', () => {
    commitFiles(tmp.dir, OLD);
    commitFiles(tmp.dir, NEW);
    expect(readSet(tmp.dir, (n) => tmp.path(n))).toBe('new');
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(Object.keys(NEW).sort());
  });

  it('leaves the old set or the new one after a crash between any two steps', () => {
    const steps = planCommit(tmp.path('probe'), NEW).length;
    const outcomes: string[] = [];
    for (let crashAfter = 0; crashAfter <= steps; crashAfter++) {
      const dir = tmp.path(`crash-${crashAfter}`);
      commitFiles(dir, OLD);
      const plan = planCommit(dir, NEW);
      plan.slice(0, crashAfter).forEach((step) => step());
      const markerWritten = fs.existsSync(path.join(dir, STAGING_DIR, COMPLETE_MARKER));
      // A reader that must not write sees one whole set ...
      const seen = readSet(dir, (n) => committedPath(dir, n));
      // ... and recovery settles on the same one.
      recoverCommit(dir);
      expect(fs.existsSync(path.join(dir, STAGING_DIR))).toBe(false);
      expect(readSet(dir, (n) => path.join(dir, n))).toBe(seen);
      if (markerWritten) expect(seen).toBe('new');
      outcomes.push(seen);
    }
    // Crashes before the marker keep the old set; from the marker on, the new one wins.
    const firstNew = outcomes.indexOf('new');
    expect(firstNew).toBeGreaterThan(0);
    expect(outcomes.slice(0, firstNew).every((o) => o === 'old')).toBe(true);
    expect(outcomes.slice(firstNew).every((o) => o === 'new')).toBe(true);
  });

  it('reports what recovery did', () => {
    expect(recoverCommit(tmp.dir)).toBe('none');
    fs.mkdirSync(tmp.path(STAGING_DIR));
    fs.writeFileSync(tmp.path(STAGING_DIR, 'model.json'), 'half');
    expect(recoverCommit(tmp.dir)).toBe('discarded');
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
    const plan = planCommit(tmp.dir, NEW);
    plan.slice(0, Object.keys(NEW).length + 2).forEach((step) => step()); // staged, marked, one file moved
    expect(recoverCommit(tmp.dir)).toBe('rolled-forward');
    expect(readSet(tmp.dir, (n) => tmp.path(n))).toBe('new');
  });
});

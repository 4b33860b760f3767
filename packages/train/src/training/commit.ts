import * as fs from 'fs';
import * as path from 'path';
import { fsyncDir, writeFileAtomic } from '../io/atomic';

/**
 * Several files replaced together, so that a crash at any moment leaves either
 * the old set or the new one:
 *   1. every new file is written (and fsynced) into `<dir>/.next/`;
 *   2. `.next/COMPLETE` (the list of names) is written: from here on the set counts;
 *   3. each file is renamed into `<dir>`, then `<dir>` is fsynced;
 *   4. `COMPLETE` and `.next/` are removed.
 * `recoverCommit` finishes step 3 when it finds `COMPLETE`, and discards `.next/`
 * without it; readers that must not write use `committedPath`.
 */
export const STAGING_DIR = '.next';
export const COMPLETE_MARKER = 'COMPLETE';

export type FileSet = Record<string, string | Uint8Array>;

/** The commit as a list of steps, so a test can stop after any of them (a simulated crash). */
export function planCommit(dir: string, files: FileSet): Array<() => void> {
  const staging = path.join(dir, STAGING_DIR);
  const names = Object.keys(files);
  const steps: Array<() => void> = [
    () => {
      fs.rmSync(staging, { recursive: true, force: true });
      fs.mkdirSync(staging, { recursive: true });
    },
  ];
  for (const name of names) steps.push(() => writeFileAtomic(path.join(staging, name), files[name]));
  steps.push(() => writeFileAtomic(path.join(staging, COMPLETE_MARKER), JSON.stringify(names)));
  for (const name of names) steps.push(() => fs.renameSync(path.join(staging, name), path.join(dir, name)));
  steps.push(() => fsyncDir(dir));
  steps.push(() => fs.rmSync(path.join(staging, COMPLETE_MARKER)));
  steps.push(() => {
    fs.rmSync(staging, { recursive: true, force: true });
    fsyncDir(dir);
  });
  return steps;
}

/** Replaces `files` in `dir` all together (see above). */
export function commitFiles(dir: string, files: FileSet): void {
  fs.mkdirSync(dir, { recursive: true });
  recoverCommit(dir);
  for (const step of planCommit(dir, files)) step();
}

/** Names listed by a complete staged set, or null when there is none. */
function stagedNames(dir: string): string[] | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, STAGING_DIR, COMPLETE_MARKER), 'utf8');
  } catch {
    return null;
  }
  // COMPLETE is itself written atomically, so it is either absent or whole.
  return JSON.parse(text) as string[];
}

/**
 * Finishes or discards an interrupted commit in `dir`:
 * `'rolled-forward'` when a complete staged set was moved in, `'discarded'`
 * when an incomplete one was dropped, `'none'` when there was nothing to do.
 */
export function recoverCommit(dir: string): 'none' | 'rolled-forward' | 'discarded' {
  const staging = path.join(dir, STAGING_DIR);
  if (!fs.existsSync(staging)) return 'none';
  const names = stagedNames(dir);
  if (names !== null) {
    for (const name of names) {
      const from = path.join(staging, name);
      // A file already moved before the crash is no longer staged.
      if (fs.existsSync(from)) fs.renameSync(from, path.join(dir, name));
    }
    fsyncDir(dir);
  }
  fs.rmSync(staging, { recursive: true, force: true });
  fsyncDir(dir);
  return names !== null ? 'rolled-forward' : 'discarded';
}

/** Where to read `name` without writing: the staged copy of a complete, unfinished commit, else `<dir>/<name>`. */
export function committedPath(dir: string, name: string): string {
  const names = stagedNames(dir);
  if (names !== null && names.includes(name)) {
    const staged = path.join(dir, STAGING_DIR, name);
    if (fs.existsSync(staged)) return staged;
  }
  return path.join(dir, name);
}

/**
 * Temporary folders for tests, each `<os tmp>/lip-<prefix>-XXXXXX`, removed
 * by the jest hook that ends their scope:
 * - `tmpDirPerTest(prefix)`: a fresh folder for each test of the calling
 *   describe block (or file), removed after each test;
 * - `tmpDirPerSuite(prefix)`: one folder for the calling describe block (or
 *   file), removed after its last test;
 * - `withTmpDir(prefix, fn)`: a folder for one call, removed when `fn` settles;
 * - `makeTmpDir(prefix)`: a bare folder; the caller removes it.
 * The first two register their hooks when called, so call them at the top of
 * a file or describe block, never inside a test; jest runs after-hooks in
 * declaration order, so call them after the hooks that still need the folder.
 * Their folder is made at first use, so a skipped block leaves nothing behind.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface TmpDir {
  /** The folder (made at first use). */
  readonly dir: string;
  /** `path.join(dir, ...parts)`. */
  path(...parts: string[]): string;
  /** Writes `bytes` at `rel` under the folder, making parent folders; returns the file's path. */
  put(rel: string, bytes: Uint8Array | string): string;
}

/** A new, empty folder `<os tmp>/lip-<prefix>-XXXXXX` that the caller removes. */
export function makeTmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lip-${prefix}-`));
}

/** Removes `dir` and everything below it (nothing when it is gone). */
export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs `fn` with a fresh folder, removed afterwards (also when `fn` throws). */
export async function withTmpDir<T>(prefix: string, fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = makeTmpDir(prefix);
  try {
    return await fn(dir);
  } finally {
    removeDir(dir);
  }
}

/** A folder made on first use and forgotten by `reset()`, which removes it. */
function lazyDir(prefix: string): TmpDir & { reset(): void } {
  let dir: string | null = null;
  const get = (): string => (dir ??= makeTmpDir(prefix));
  return {
    get dir() {
      return get();
    },
    path: (...parts) => path.join(get(), ...parts),
    put(rel, bytes) {
      const file = path.join(get(), rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, bytes);
      return file;
    },
    reset() {
      if (dir !== null) removeDir(dir);
      dir = null;
    },
  };
}

/** A fresh folder for each test of the calling describe block (or file), removed after each test. */
export function tmpDirPerTest(prefix: string): TmpDir {
  const d = lazyDir(prefix);
  afterEach(() => d.reset());
  return d;
}

/** One folder for the calling describe block (or file), removed after its last test. */
export function tmpDirPerSuite(prefix: string): TmpDir {
  const d = lazyDir(prefix);
  afterAll(() => d.reset());
  return d;
}

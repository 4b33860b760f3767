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
 * Their folder is made before the block's tests (or at first use of `dir`),
 * so a skipped block leaves nothing behind.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface TmpDir {
  /** The folder (made if need be). */
  readonly dir: string;
  /** `path.join(dir, ...parts)`, without making anything. */
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

/**
 * A folder whose name is picked at first use and which is made when a hook
 * (`create`) or a use of `dir` or `put` needs it, so `path()` at collection
 * time in a block jest then skips leaves nothing behind; `reset()` removes it
 * and forgets the name.
 */
function lazyDir(prefix: string): TmpDir & { create(): void; reset(): void } {
  let name: string | null = null;
  const pick = (): string => (name ??= path.join(os.tmpdir(), `lip-${prefix}-${process.pid}-${crypto.randomBytes(6).toString('hex')}`));
  const made = (): string => {
    const dir = pick();
    // Checked first: tests that fault fs.mkdirSync (atomic.test.ts) still read `dir`.
    if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  };
  return {
    get dir() {
      return made();
    },
    path: (...parts) => path.join(pick(), ...parts),
    put(rel, bytes) {
      const file = path.join(made(), rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, bytes);
      return file;
    },
    create() {
      made();
    },
    reset() {
      if (name !== null) removeDir(name);
      name = null;
    },
  };
}

/** A fresh folder for each test of the calling describe block (or file), removed after each test. */
export function tmpDirPerTest(prefix: string): TmpDir {
  const d = lazyDir(prefix);
  beforeEach(() => d.create());
  afterEach(() => d.reset());
  return d;
}

/** One folder for the calling describe block (or file), removed after its last test. */
export function tmpDirPerSuite(prefix: string): TmpDir {
  const d = lazyDir(prefix);
  beforeAll(() => d.create());
  afterAll(() => d.reset());
  return d;
}

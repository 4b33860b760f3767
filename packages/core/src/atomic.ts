import * as fs from 'fs';
import * as path from 'path';

let counter = 0;

/**
 * Writes `data` to `file` atomically: a temp file `.<name>.<pid>.<n>.tmp` in
 * the same folder, fsync, then rename. A reader sees the old file or the new
 * one, never a mix. A killed process can leave its temp file behind; the next
 * write of the same `file` removes the temps of processes that no longer run
 * (never those of live ones: they may be writing concurrently).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  const base = path.basename(file);
  fs.mkdirSync(dir, { recursive: true });
  removeDeadProcessTemps(dir, (name) => atomicTempOwner(name, base));
  const tmp = path.join(dir, `.${base}.${process.pid}.${counter++}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** The pid in `name` when it is a `writeFileAtomic` temp of `base` (`.<base>.<pid>.<n>.tmp`), else null. */
export function atomicTempOwner(name: string, base: string): number | null {
  const prefix = `.${base}.`;
  if (!name.startsWith(prefix)) return null;
  const m = /^(\d+)\.\d+\.tmp$/.exec(name.slice(prefix.length));
  return m === null ? null : Number(m[1]);
}

/** Pids are positive 32-bit integers; a name with anything else is not a temp of a process. */
const MAX_PID = 0x7fffffff;

/**
 * False only when no process `pid` exists (`kill(pid, 0)` fails with ESRCH).
 * A process of another user (EPERM) counts as alive. A pid reused by an
 * unrelated process also counts as alive: its temps are kept, never a live
 * writer's removed. Pids are those of this machine's pid namespace: a folder
 * shared with another container or host is not cleaned correctly.
 */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the entries of `dir` whose owner (`ownerPid(name)`, null for entries
 * that are not temps) is a process that no longer runs. Files only, unless
 * `recursive` (then folders too). Best effort: a failure to list or remove is
 * ignored, since the caller's own work does not depend on it.
 */
export function removeDeadProcessTemps(
  dir: string,
  ownerPid: (name: string) => number | null,
  opts: { recursive?: boolean } = {},
): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  const alive = new Map<number, boolean>();
  for (const entry of entries) {
    const pid = ownerPid(entry.name);
    if (pid === null || !Number.isSafeInteger(pid) || pid < 1 || pid > MAX_PID) continue;
    if (!(entry.isFile() || (opts.recursive === true && entry.isDirectory()))) continue;
    let isAlive = alive.get(pid);
    if (isAlive === undefined) alive.set(pid, (isAlive = processAlive(pid)));
    if (isAlive) continue;
    try {
      fs.rmSync(path.join(dir, entry.name), { force: true, recursive: opts.recursive === true });
    } catch {
      // Another process may be removing it too, or it is not ours to remove.
    }
  }
}

/** fsync a folder so a rename in it survives a crash (best effort on platforms without it). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a folder; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Output files written whole or not at all.
 *
 * `writeFileAtomic(file, data)` follows `file` through symbolic links (a
 * dangling link leads to its missing target, which is created) and writes
 * what it finds there:
 * - nothing, or a regular file: a temp file `.<name>.<pid>.<n>.tmp` in the
 *   target's folder, fsync, then rename over the target (which keeps its
 *   permission bits). A reader sees the old file or the new one, never a mix;
 *   on any failure the temp is removed and the old file is left intact. A
 *   link stays a link.
 * - a character device or a FIFO (`/dev/null`, `/dev/stdout` on a terminal
 *   or a pipe, a named pipe): written in place, since a stream has no old
 *   content to keep. A FIFO blocks until a reader opens it, as for any writer.
 * - this process's own stdout or stderr redirected to a file (`--json
 *   /dev/stdout > log`): appended through that descriptor, after what the
 *   process already printed there, as `> log` means.
 * - anything else (a folder, a socket, a block device): refused with an
 *   InvalidArgumentError naming the path.
 * A failing file system (read-only, full, permission denied) gives a
 * DataError naming the path and the cause.
 *
 * A killed process can leave its temp file behind; the next write of the
 * same file removes the temps of processes that no longer run (never those
 * of live ones: they may be writing concurrently).
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError, InvalidArgumentError, assertArg } from './errors';

let counter = 0;

/** Symbolic links followed before giving up, as Linux (MAXSYMLINKS). */
const MAX_SYMLINK_HOPS = 40;

/**
 * Where `writeFileAtomic` puts the data: a file replaced by rename (`target`:
 * the path after links), or a stream written in place (`fd`: through this
 * process's stdout or stderr, when the path is that file).
 */
export type OutputTarget = { kind: 'file'; target: string; mode: number | null } | { kind: 'stream'; fd?: number };

/**
 * What writing `file` would do (see the module comment); throws the error
 * `writeFileAtomic` would for a folder, a socket, a block device or a link
 * loop. Callers with long work ahead check their output paths with it first.
 */
export function outputTarget(file: string): OutputTarget {
  assertArg(typeof file === 'string' && file.length > 0, () => `'file' must be a non-empty path, got ${JSON.stringify(file)}`);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    throw writeError(file, err, false);
  }
  if (st !== undefined && st.isFile()) {
    const fd = standardStreamOf(st);
    if (fd !== undefined) return { kind: 'stream', fd };
  }
  if (st === undefined || st.isFile()) return { kind: 'file', target: followLinks(file), mode: st === undefined ? null : st.mode & 0o777 };
  if (st.isCharacterDevice() || st.isFIFO()) return { kind: 'stream' };
  if (st.isDirectory()) {
    throw new InvalidArgumentError(`cannot write '${file}': it is a folder; give the path of a file (for example a new name inside it)`);
  }
  const what = st.isSocket() ? 'a socket, which cannot be opened for writing' : st.isBlockDevice() ? 'a block device' : 'not a regular file';
  throw new InvalidArgumentError(`cannot write '${file}': it is ${what}; give the path of a file (for standard output, lip takes '-')`);
}

export interface WriteFileAtomicOptions {
  /**
   * fsync the file and its folder, so that the new contents survive a power
   * cut (default true). A cache whose entries carry their own checksum may
   * skip it: readers still see a whole file or none while the system runs,
   * and an entry torn by a crash fails its check and is rewritten.
   */
  durable?: boolean;
}

/** Writes `data` to `file`: atomically for a file, in place for a device or a FIFO (see the module comment). */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: WriteFileAtomicOptions = {}): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = outputTarget(file);
  if (out.kind === 'file') replaceFile(file, out.target, out.mode, bytes, opts.durable ?? true);
  else if (out.fd !== undefined) writeThrough(file, out.fd, bytes);
  else writeInPlace(file, bytes);
}

/** 1 or 2 when `st` is the file this process's stdout or stderr writes to. */
function standardStreamOf(st: fs.Stats): number | undefined {
  for (const fd of [1, 2]) {
    try {
      const s = fs.fstatSync(fd);
      if (s.dev === st.dev && s.ino === st.ino) return fd;
    } catch {
      // Closed: not this file.
    }
  }
  return undefined;
}

function writeThrough(file: string, fd: number, bytes: Uint8Array): void {
  try {
    writeAll(fd, bytes);
  } catch (err) {
    throw writeError(file, err, false);
  }
}

function replaceFile(file: string, target: string, mode: number | null, bytes: Uint8Array, durable: boolean): void {
  const dir = path.dirname(target);
  const base = path.basename(target);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw writeError(file, err, true);
  }
  removeDeadProcessTemps(dir, (name) => atomicTempOwner(name, base));
  const tmp = path.join(dir, `.${base}.${process.pid}.${counter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    // The umask must not narrow a replaced file's permissions.
    if (mode !== null) fs.fchmodSync(fd, mode);
    writeAll(fd, bytes);
    if (durable) fs.fsyncSync(fd);
    const done = fd;
    fd = undefined;
    fs.closeSync(done);
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd);
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // The error that matters is the write's; a temp left here is removed by the next write.
    }
    throw writeError(file, err, true);
  }
  if (durable) fsyncDir(dir);
}

function writeInPlace(file: string, bytes: Uint8Array): void {
  let fd: number | undefined;
  try {
    // No O_CREAT / O_TRUNC: this is a device or a pipe, never a file to create.
    fd = fs.openSync(file, fs.constants.O_WRONLY);
    writeAll(fd, bytes);
    const done = fd;
    fd = undefined;
    fs.closeSync(done);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd);
    throw writeError(file, err, false);
  }
}

/** `write(2)` may write less than asked (pipes, signals); loop until every byte is out. */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length;) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already failing: the first error is the one to report.
  }
}

/**
 * The path `file` designates once its symbolic links are followed (a dangling
 * link: its missing target). A relative link target is resolved from the
 * link's real folder, as the kernel does.
 */
function followLinks(file: string): string {
  let p = path.resolve(file);
  try {
    for (let hop = 0; hop <= MAX_SYMLINK_HOPS; hop++) {
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined || !st.isSymbolicLink()) return p;
      p = path.resolve(realFolder(path.dirname(p)), fs.readlinkSync(p));
    }
  } catch (err) {
    throw writeError(file, err, false);
  }
  throw writeError(file, Object.assign(new Error('too many symbolic links'), { code: 'ELOOP' }), false);
}

function realFolder(dir: string): string {
  try {
    return fs.realpathSync.native(dir);
  } catch {
    return dir; // a folder still to be created
  }
}

/** Errno codes and what they mean for an output path. */
const WRITE_FAILURES: Record<string, string> = {
  EACCES: 'permission denied (EACCES); choose a folder you can write to',
  EPERM: 'operation not permitted (EPERM); choose a folder you can write to',
  EROFS: 'the file system is read-only (EROFS); choose a folder on a writable one',
  ENOSPC: 'no space left on the device (ENOSPC); free some space or choose another folder',
  EDQUOT: 'disk quota exceeded (EDQUOT); free some space or choose another folder',
  EFBIG: 'the file is too large for the file system (EFBIG); choose another folder',
  ENOTDIR: 'a part of the path is a file, not a folder (ENOTDIR); fix the path',
  EISDIR: 'it is a folder (EISDIR); give the path of a file',
  ELOOP: 'too many levels of symbolic links (ELOOP: a loop?); fix the link',
  ENAMETOOLONG: 'the path or a name in it is too long (ENAMETOOLONG)',
  EPIPE: 'its reader closed it before everything was written (EPIPE)',
  ENXIO: 'nothing there can be opened for writing (ENXIO, e.g. a socket)',
};

/** One clear error for a failed write of `file`; `replaced`: nothing reached `file` (the atomic path). Non-fs errors pass through. */
function writeError(file: string, err: unknown, replaced: boolean): Error {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string') return err as Error;
  const why = WRITE_FAILURES[code] ?? (err as Error).message;
  return new DataError(`cannot write '${file}': ${why}${replaced ? '; nothing was written' : ''}`);
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
export function removeDeadProcessTemps(dir: string, ownerPid: (name: string) => number | null, opts: { recursive?: boolean } = {}): void {
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

/**
 * One writer per output. `acquireOutputLock(target)` creates the folder
 * `<target>.lock` beside the target with `owner.json` inside (pid, host, boot
 * id, process start, command), through proper-lockfile: it refreshes the
 * folder's mtime every `updateMs` while the lock is held, and removes held
 * locks when the process exits, also on SIGINT or SIGTERM. The folder is
 * built aside with its record, then renamed in (a rename replaces no folder
 * but an empty one, which only a release killed halfway leaves: one process
 * wins), so a lock never lacks its owner, even when its creator is killed.
 * Readers never lock.
 *
 * A lock in the way is stale, and taken over at once, when its owner
 * provably no longer runs: on this host, its pid is gone, the machine has
 * rebooted since (boot id), or the pid now belongs to a later process (pid
 * reuse, from /proc start times). An owner on another host, or an owner
 * record that cannot be read, is judged by age only: stale once the mtime is
 * older than `staleMs`. Otherwise the caller gets `OutputInUseError` (exit 2)
 * naming the holder's pid. Pids are those of this machine's pid namespace:
 * containers that share a folder should have distinct host names.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { atomicTempOwner, processAlive, removeDeadProcessTemps } from './atomic';
import { InvalidArgumentError, LipError } from './errors';

/** The lock of `<target>` is the folder `<target>.lock`, proper-lockfile's convention. */
export const LOCK_SUFFIX = '.lock';
/** The owner record inside the lock folder. */
export const LOCK_OWNER_FILE = 'owner.json';
/** How often a holder refreshes its lock's mtime. */
export const DEFAULT_LOCK_UPDATE_MS = 10_000;
/**
 * Age after which a lock whose owner cannot be checked (another host, an
 * unreadable owner record) is stale: generous, since a holder whose event loop is busy
 * (a long synchronous training step) refreshes late.
 */
export const DEFAULT_LOCK_STALE_MS = 5 * 60_000;
/** Take-overs of stale locks (and retries after a release) before giving up: each one lost to a faster process. */
const MAX_TAKEOVERS = 5;
/** proper-lockfile's own age rule, never met: staleness is judged here, by owner first (`holderState`). */
const NEVER_STALE_MS = Number.MAX_SAFE_INTEGER;

/** Another live process holds the lock of the output. */
export class OutputInUseError extends LipError {}

/** The lock was removed or taken by another process while held. */
export class OutputLockLostError extends LipError {}

/** What `owner.json` holds. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** Linux `/proc/sys/kernel/random/boot_id`, null elsewhere. */
  bootId: string | null;
  /** The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), null elsewhere. */
  processStart: string | null;
  /** When the lock was taken (ISO 8601). */
  started: string;
  /** The holder's command line, for the message of the process it stops. */
  command: string;
}

export interface OutputLockOptions {
  /** How messages name the target, e.g. 'output folder'. */
  what: string;
  /** The way out a refusal suggests, e.g. 'use another --out'. */
  hint: string;
  /** Period of the mtime refresh in ms (proper-lockfile's minimum is 1000). Default DEFAULT_LOCK_UPDATE_MS. */
  updateMs?: number;
  /** Age in ms after which a lock whose owner cannot be checked is stale. Default DEFAULT_LOCK_STALE_MS. */
  staleMs?: number;
}

/** A held lock. */
export interface OutputLock {
  /** The locked output, as the caller named it. */
  readonly target: string;
  /** The lock folder, `<target>.lock` (absolute). */
  readonly lockPath: string;
  /** False once released, or once another process removed or took the lock. */
  readonly held: boolean;
  /** Throws OutputLockLostError when another process removed or took the lock: call it before each write. */
  assertHeld(): void;
  /** Removes the lock. Never throws: a lock left behind names this pid and is taken over once the process ends. */
  release(): Promise<void>;
}

type Lockfile = typeof import('proper-lockfile');
let lockfileModule: Lockfile | undefined;

/** Loaded on first use: it installs exit and signal handlers (signal-exit) that processes which only read need not carry. */
function lockfile(): Lockfile {
  return (lockfileModule ??= require('proper-lockfile') as Lockfile);
}

/**
 * Takes the lock of `target` (a file or folder, which need not exist; its
 * parent folder is created). Throws OutputInUseError when a live process
 * holds it, InvalidArgumentError when the lock cannot be created (a parent
 * that is a file, no permission) or `<target>.lock` is something else.
 */
export async function acquireOutputLock(target: string, opts: OutputLockOptions): Promise<OutputLock> {
  if (typeof target !== 'string' || target.length === 0) {
    throw new InvalidArgumentError(`'target' of the lock must be a path, got ${JSON.stringify(target)}`);
  }
  const resolved = path.resolve(target);
  const lockPath = resolved + LOCK_SUFFIX;
  const staleMs = opts.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const parent = path.dirname(resolved);
  try {
    fs.mkdirSync(parent, { recursive: true });
  } catch (err) {
    throw new InvalidArgumentError(`cannot write ${opts.what} ${target}: ${(err as Error).message}`);
  }
  // Folders a killed process left while creating or taking over this lock.
  removeDeadProcessTemps(parent, (name) => atomicTempOwner(name, path.basename(lockPath)), { recursive: true });
  for (let takeovers = 0; ;) {
    const lock = await tryLock(target, resolved, lockPath, opts);
    if (lock !== null) return lock;
    const held = inspectLock(lockPath);
    if (held === 'gone' && takeovers++ < MAX_TAKEOVERS) continue; // released in between: try again
    if (held === 'gone') throw inUseError(target, lockPath, null, opts);
    if (held === 'foreign') {
      throw new InvalidArgumentError(`cannot lock ${opts.what} ${target}: ${lockPath} exists and is not a lip lock; remove it, or ${opts.hint}`);
    }
    if (holderState(held, staleMs) !== 'stale' || takeovers >= MAX_TAKEOVERS) throw inUseError(target, lockPath, held.owner, opts);
    takeOver(lockPath, held, staleMs);
    takeovers++;
  }
}

/** Runs `run` holding the lock of `target`, released when it settles. */
export async function withOutputLock<T>(target: string, opts: OutputLockOptions, run: (lock: OutputLock) => Promise<T>): Promise<T> {
  const lock = await acquireOutputLock(target, opts);
  try {
    return await run(lock);
  } finally {
    await lock.release();
  }
}

/** This process's owner record. */
export function currentLockOwner(): LockOwner {
  const script = process.argv[1] === undefined ? 'node' : path.basename(process.argv[1]);
  return {
    pid: process.pid,
    hostname: os.hostname(),
    bootId: bootId(),
    processStart: processStart(process.pid),
    started: new Date().toISOString(),
    command: [script, ...process.argv.slice(2)].join(' ').slice(0, 300),
  };
}

class HeldLock implements OutputLock {
  private released = false;
  constructor(
    readonly target: string,
    readonly lockPath: string,
    private readonly what: string,
    private readonly unlock: () => Promise<void>,
    private readonly lostReason: () => Error | null,
  ) {}

  get held(): boolean {
    return !this.released && this.lostReason() === null;
  }

  assertHeld(): void {
    const lost = this.lostReason();
    if (lost !== null) {
      throw new OutputLockLostError(
        `${this.what} ${this.target}: another process removed or took its lock ${this.lockPath} (${lost.message}); ` +
          'stopped so that the two do not mix their files',
      );
    }
    if (this.released) throw new OutputLockLostError(`${this.what} ${this.target}: its lock was already released`);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.unlock();
    } catch {
      // Lost (proper-lockfile then leaves the folder to its new owner) or removed by hand: nothing of ours to remove.
    }
  }
}

/** The lock, or null when the folder exists (another holder, live or not). */
async function tryLock(target: string, resolved: string, lockPath: string, opts: OutputLockOptions): Promise<HeldLock | null> {
  let lost: Error | null = null;
  let unlock: () => Promise<void>;
  try {
    unlock = await lockfile().lock(resolved, {
      realpath: false,
      lockfilePath: lockPath,
      stale: NEVER_STALE_MS,
      update: opts.updateMs ?? DEFAULT_LOCK_UPDATE_MS,
      retries: 0,
      fs: lockFs(`${JSON.stringify(currentLockOwner(), null, 2)}\n`),
      // Called from a timer: record it for assertHeld() (proper-lockfile's default throws, an uncaught exception).
      onCompromised: (err) => {
        lost = err;
      },
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') return null;
    throw new InvalidArgumentError(`cannot lock ${opts.what} ${target}: ${(err as Error).message}`);
  }
  return new HeldLock(target, lockPath, opts.what, unlock, () => lost);
}

let tempCounter = 0;

/** A folder beside `lockPath` named as writeFileAtomic names its temps (`.<name>.<pid>.<n>.tmp`): removed once this pid has ended. */
function lockTemp(lockPath: string): string {
  return path.join(path.dirname(lockPath), `.${path.basename(lockPath)}.${process.pid}.${tempCounter++}.tmp`);
}

/**
 * The fs proper-lockfile uses (its `fs` option): its mkdir creates the lock
 * with its owner record in one rename, and its rmdir removes the record with
 * the folder. proper-lockfile then sets and checks the folder's mtime.
 */
function lockFs(ownerRecord: string): object {
  return {
    mkdir(lockPath: string, done: (err: NodeJS.ErrnoException | null) => void): void {
      createLockDir(lockPath, ownerRecord).then(() => done(null), done);
    },
    stat: fs.stat,
    utimes: fs.utimes,
    rmdir(dir: string, done: (err: NodeJS.ErrnoException | null) => void): void {
      try {
        removeLockDir(dir);
      } catch (err) {
        return done(err as NodeJS.ErrnoException);
      }
      done(null);
    },
    rmdirSync: removeLockDir,
  };
}

/** mkdir with the record inside from the start; fails with EEXIST, as mkdir does, when `lockPath` holds anything but an empty folder. */
async function createLockDir(lockPath: string, ownerRecord: string): Promise<void> {
  const staging = lockTemp(lockPath);
  try {
    await fs.promises.mkdir(staging);
    await fs.promises.writeFile(path.join(staging, LOCK_OWNER_FILE), ownerRecord);
    // Replaces an empty folder only: one a release killed halfway left.
    await fs.promises.rename(staging, lockPath);
  } catch (err) {
    await fs.promises.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTEMPTY/EEXIST: a lock folder is there; ENOTDIR: a file is (the parent folder exists, staging was made in it).
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') {
      throw Object.assign(new Error(`EEXIST: ${lockPath} exists`), { code: 'EEXIST' });
    }
    throw err;
  }
}

/** Removes a lock folder and its owner record, nothing else (rmdir fails on anything more). */
function removeLockDir(dir: string): void {
  fs.rmSync(path.join(dir, LOCK_OWNER_FILE), { force: true });
  fs.rmdirSync(dir);
}

/** A lock folder as found: its owner record (verbatim and parsed) and mtime. */
interface LockSnapshot {
  record: string | null;
  owner: LockOwner | null;
  mtimeMs: number;
}

/** The lock folder at `lockPath`, 'gone' when there is none, 'foreign' when the path holds anything else. */
function inspectLock(lockPath: string): LockSnapshot | 'gone' | 'foreign' {
  let stat: fs.Stats;
  let names: string[];
  try {
    stat = fs.statSync(lockPath);
    if (!stat.isDirectory()) return 'foreign';
    names = fs.readdirSync(lockPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  if (names.some((n) => n !== LOCK_OWNER_FILE)) return 'foreign';
  let record: string | null = null;
  try {
    record = fs.readFileSync(path.join(lockPath, LOCK_OWNER_FILE), 'utf8');
  } catch {
    // An empty folder: a release killed halfway.
  }
  return { record, owner: parseOwner(record), mtimeMs: stat.mtimeMs };
}

function parseOwner(record: string | null): LockOwner | null {
  if (record === null) return null;
  let o: Partial<LockOwner>;
  try {
    o = JSON.parse(record) as Partial<LockOwner>;
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null || !Number.isSafeInteger(o.pid) || o.pid! < 1 || typeof o.hostname !== 'string') return null;
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    pid: o.pid!,
    hostname: o.hostname,
    bootId: str(o.bootId),
    processStart: str(o.processStart),
    started: str(o.started) ?? '',
    command: str(o.command) ?? '',
  };
}

/**
 * 'running' when the owner runs (or runs elsewhere and refreshed the lock
 * within `staleMs`), 'stale' when it provably does not. A folder without a
 * readable owner record is judged by age.
 */
function holderState(lock: LockSnapshot, staleMs: number): 'running' | 'stale' {
  const old = Date.now() - lock.mtimeMs > staleMs;
  if (lock.owner === null) return old ? 'stale' : 'running';
  const running = ownerRunning(lock.owner);
  if (running === null) return old ? 'stale' : 'running';
  return running ? 'running' : 'stale';
}

/** Whether the owner's process still runs; null when this host cannot tell (another host). */
function ownerRunning(owner: LockOwner): boolean | null {
  if (owner.hostname !== os.hostname()) return null;
  const boot = bootId();
  if (owner.bootId !== null && boot !== null && owner.bootId !== boot) return false; // rebooted since
  if (!processAlive(owner.pid)) return false;
  const start = processStart(owner.pid);
  return owner.processStart === null || start === null || start === owner.processStart; // else the pid was reused
}

/**
 * Removes the stale lock `seen`: renames it aside first, then removes it only
 * if what was moved is still that stale lock. A process that took the lock
 * in between gets its folder back (the rename changes neither its owner
 * record nor its mtime).
 */
function takeOver(lockPath: string, seen: LockSnapshot, staleMs: number): void {
  const aside = lockTemp(lockPath);
  try {
    fs.renameSync(lockPath, aside);
  } catch {
    return; // released or taken over by another process meanwhile
  }
  const moved = inspectLock(aside);
  if (moved !== 'gone' && moved !== 'foreign' && moved.record === seen.record && holderState(moved, staleMs) === 'stale') {
    try {
      removeLockDir(aside);
    } catch {
      // Left aside; removed by a later lock of the same target once this pid has ended.
    }
    return;
  }
  try {
    fs.renameSync(aside, lockPath);
  } catch {
    // A third process holds the name now; the one whose folder this is finds its lock lost (assertHeld).
  }
}

function inUseError(target: string, lockPath: string, owner: LockOwner | null, opts: OutputLockOptions): OutputInUseError {
  if (owner === null) {
    return new OutputInUseError(
      `${opts.what} ${target} is in use by another lip process (its lock ${lockPath} has no readable owner record); ` +
        `wait for it to finish, remove ${lockPath} if no lip process writes there, or ${opts.hint}`,
    );
  }
  const who = owner.pid === process.pid && owner.hostname === os.hostname() ? 'this process' : 'another lip process';
  const where = owner.hostname === os.hostname() ? '' : ` on ${owner.hostname}`;
  const started = owner.started === '' ? '' : `, started ${owner.started.replace(/\.\d{3}Z$/, 'Z')}`;
  const command = owner.command === '' ? '' : `: ${owner.command}`;
  return new OutputInUseError(
    `${opts.what} ${target} is in use by ${who} (pid ${owner.pid}${where}${started}${command}); wait for it to finish or ${opts.hint}`,
  );
}

let bootIdCache: string | null | undefined;

/** This boot's id (Linux), null where there is none. */
function bootId(): string | null {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache;
}

/** Start time of `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22), null where /proc has none. */
export function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 is the command name in parentheses, which may hold spaces: count fields after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[22 - 3] ?? null;
  } catch {
    return null;
  }
}

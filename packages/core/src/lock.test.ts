import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { childrenPerTest, deadPid, tmpDirPerTest } from '@lip/test-support';
import { InvalidArgumentError } from './errors';
import {
  acquireOutputLock,
  currentLockOwner,
  DEFAULT_LOCK_STALE_MS,
  LOCK_OWNER_FILE,
  LockOwner,
  OutputInUseError,
  OutputLock,
  OutputLockLostError,
  processStart,
  withOutputLock,
} from './lock';

const OPTS = { what: 'output folder', hint: 'use another --out' };

let target: string;
let lockPath: string;
const held: OutputLock[] = [];
const children = childrenPerTest();
const startSleeper = (): number => children.sleeper().pid!;

/** Writes a lock folder as another process would leave it, its mtime `ageMs` in the past. */
function forgeLock(owner: Partial<LockOwner> | null, ageMs = 0): void {
  fs.mkdirSync(lockPath);
  if (owner !== null) fs.writeFileSync(path.join(lockPath, LOCK_OWNER_FILE), JSON.stringify({ ...currentLockOwner(), ...owner }));
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(lockPath, t, t);
}

function ownerOnDisk(): LockOwner {
  return JSON.parse(fs.readFileSync(path.join(lockPath, LOCK_OWNER_FILE), 'utf8')) as LockOwner;
}

async function acquire(opts: Partial<typeof OPTS> & { updateMs?: number } = {}): Promise<OutputLock> {
  const lock = await acquireOutputLock(target, { ...OPTS, ...opts });
  held.push(lock);
  return lock;
}

beforeEach(() => {
  target = tmp.path('run');
  lockPath = `${target}.lock`;
});

afterEach(async () => {
  for (const lock of held.splice(0)) await lock.release();
});
// After the hook above (jest runs afterEach hooks in declaration order): locks are released before their folder goes.
const tmp = tmpDirPerTest('lock');

describe('acquireOutputLock', () => {
  it('creates <target>.lock with this process as owner, and release removes it', async () => {
    const lock = await acquire();
    expect(lock.lockPath).toBe(lockPath);
    expect(lock.held).toBe(true);
    expect(fs.readdirSync(tmp.dir)).toEqual(['run.lock']);
    expect(fs.readdirSync(lockPath)).toEqual([LOCK_OWNER_FILE]);
    expect(ownerOnDisk()).toMatchObject({ pid: process.pid, hostname: os.hostname() });
    expect(() => lock.assertHeld()).not.toThrow();
    await lock.release();
    await lock.release();
    expect(lock.held).toBe(false);
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });

  it('creates missing parent folders and quotes the path when it cannot', async () => {
    target = tmp.path('a', 'b', 'run');
    lockPath = `${target}.lock`;
    await acquire();
    expect(fs.existsSync(lockPath)).toBe(true);
    fs.writeFileSync(tmp.path('file'), '');
    const err = await acquireOutputLock(tmp.path('file', 'run'), OPTS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/^cannot write output folder .*file\/run: (EEXIST|ENOTDIR)/);
  });

  it('refuses a second writer while the holder runs, naming its pid (exit code 2)', async () => {
    await acquire();
    const err = await acquireOutputLock(target, OPTS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputInUseError);
    expect((err as OutputInUseError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(
      new RegExp(`^output folder ${target} is in use by this process \\(pid ${process.pid}, started \\S+Z: .*\\); wait for it to finish or use another --out$`),
    );
    expect(ownerOnDisk().pid).toBe(process.pid);
  });

  it('of 8 simultaneous takers, exactly one gets the lock', async () => {
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => acquireOutputLock(target, OPTS)));
    const won = results.filter((r): r is PromiseFulfilledResult<OutputLock> => r.status === 'fulfilled').map((r) => r.value);
    held.push(...won);
    expect(won.length).toBe(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(OutputInUseError);
    expect(fs.readdirSync(tmp.dir)).toEqual(['run.lock']);
  });

  it('refuses while another live process of this host holds it', async () => {
    const pid = startSleeper();
    forgeLock({ pid, processStart: processStart(pid), command: 'lip train --out run' });
    const err = await acquireOutputLock(target, OPTS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputInUseError);
    expect((err as Error).message).toMatch(new RegExp(`is in use by another lip process \\(pid ${pid}, started \\S+: lip train --out run\\)`));
    expect(ownerOnDisk().pid).toBe(pid);
  });

  it('takes over at once the lock of a process that no longer runs', async () => {
    forgeLock({ pid: deadPid() });
    const lock = await acquire();
    expect(lock.held).toBe(true);
    expect(ownerOnDisk().pid).toBe(process.pid);
  });

  it('takes over the lock of a pid now used by a later process', async () => {
    const pid = startSleeper();
    const start = processStart(pid);
    if (start === null) return; // no /proc here: a reused pid reads as running
    forgeLock({ pid, processStart: String(Number(start) - 1) });
    await acquire();
    expect(ownerOnDisk().pid).toBe(process.pid);
  });

  it('takes over a lock taken before the machine rebooted', async () => {
    const pid = startSleeper();
    if (currentLockOwner().bootId === null) return; // no boot id here
    forgeLock({ pid, processStart: processStart(pid), bootId: 'another-boot' });
    await acquire();
    expect(ownerOnDisk().pid).toBe(process.pid);
  });

  it('judges the lock of another host by age: refused while refreshed, taken over once stale', async () => {
    forgeLock({ pid: 4242, hostname: 'elsewhere.invalid' }, 1000);
    const err = await acquireOutputLock(target, OPTS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputInUseError);
    expect((err as Error).message).toMatch(/another lip process \(pid 4242 on elsewhere\.invalid, started/);
    const old = new Date(Date.now() - DEFAULT_LOCK_STALE_MS - 60_000);
    fs.utimesSync(lockPath, old, old);
    await acquire();
    expect(ownerOnDisk()).toMatchObject({ pid: process.pid, hostname: os.hostname() });
  });

  it('takes at once an empty lock folder (a release killed halfway)', async () => {
    forgeLock(null);
    await acquire();
    expect(ownerOnDisk().pid).toBe(process.pid);
  });

  it('a lock whose owner record is unreadable: refused while recent, taken over once stale', async () => {
    forgeLock(null);
    fs.writeFileSync(path.join(lockPath, LOCK_OWNER_FILE), '{"pid": 12');
    const err = await acquireOutputLock(target, OPTS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputInUseError);
    expect((err as Error).message).toMatch(/its lock .*run\.lock has no readable owner record\); wait for it to finish, remove .*run\.lock if no lip process/);
    const old = new Date(Date.now() - DEFAULT_LOCK_STALE_MS - 60_000);
    fs.utimesSync(lockPath, old, old);
    await acquire();
    expect(ownerOnDisk().pid).toBe(process.pid);
  });

  it('never removes a <target>.lock that is not a lip lock, even an old one', async () => {
    forgeLock({ pid: deadPid() }, DEFAULT_LOCK_STALE_MS * 2);
    fs.writeFileSync(path.join(lockPath, 'notes.txt'), 'mine');
    let err = await acquireOutputLock(target, OPTS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/run\.lock exists and is not a lip lock; remove it, or use another --out$/);
    expect(fs.readFileSync(path.join(lockPath, 'notes.txt'), 'utf8')).toBe('mine');
    fs.rmSync(lockPath, { recursive: true });
    fs.writeFileSync(lockPath, 'a file');
    err = await acquireOutputLock(target, OPTS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(fs.readFileSync(lockPath, 'utf8')).toBe('a file');
  });

  it('removes the folders a killed process left while creating or taking over the lock, not those of a live one', async () => {
    const dead = deadPid();
    const pid = startSleeper();
    for (const p of [dead, pid]) {
      fs.mkdirSync(tmp.path(`.run.lock.${p}.0.tmp`));
      fs.writeFileSync(tmp.path(`.run.lock.${p}.0.tmp`, LOCK_OWNER_FILE), '{}');
    }
    await acquire();
    expect(fs.readdirSync(tmp.dir).sort()).toEqual([`.run.lock.${pid}.0.tmp`, 'run.lock']);
  });

  it('reports a lock removed under it as lost (assertHeld throws), with no uncaught exception', async () => {
    const lock = await acquire({ updateMs: 1000 });
    fs.rmSync(lockPath, { recursive: true });
    // proper-lockfile notices at its next refresh, within about a second.
    const deadline = Date.now() + 60_000;
    while (lock.held && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lock.held).toBe(false);
    expect(() => lock.assertHeld()).toThrow(OutputLockLostError);
    expect(() => lock.assertHeld()).toThrow(/another process removed or took its lock/);
    const next = await acquire();
    await lock.release(); // must not remove the new holder's lock
    expect(next.held).toBe(true);
    expect(ownerOnDisk().pid).toBe(process.pid);
    expect(fs.existsSync(lockPath)).toBe(true);
  });
});

describe('withOutputLock', () => {
  it('holds the lock while `run` runs and releases it when `run` throws', async () => {
    const err = await withOutputLock(target, OPTS, async (lock) => {
      expect(lock.held).toBe(true);
      expect(fs.existsSync(lockPath)).toBe(true);
      throw new Error('boom');
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('boom');
    expect(fs.existsSync(lockPath)).toBe(false);
  });
});

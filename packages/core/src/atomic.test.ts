import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { atomicTemps, childrenPerTest, deadPid, tmpDirPerTest } from '@lip/test-support';
import { atomicTempOwner, outputTarget, processAlive, removeDeadProcessTemps, writeFileAtomic } from './atomic';
import { DataError, InvalidArgumentError } from './errors';

/** The fs calls a write makes, wrapped so a test can make one fail (we run as root: chmod cannot stop a write). */
const FAULTABLE = ['mkdirSync', 'openSync', 'fchmodSync', 'writeSync', 'fsyncSync', 'closeSync', 'renameSync'] as const;
type Faultable = (typeof FAULTABLE)[number];

jest.mock('fs', () => {
  const actual = jest.requireActual<typeof import('fs')>('fs');
  const wrapped: Record<string, unknown> = { ...actual };
  for (const name of ['mkdirSync', 'openSync', 'fchmodSync', 'writeSync', 'fsyncSync', 'closeSync', 'renameSync']) {
    wrapped[name] = jest.fn((actual as unknown as Record<string, (...a: unknown[]) => unknown>)[name]);
  }
  return wrapped;
});

const realFs = jest.requireActual<typeof import('fs')>('fs');
const faultable = fs as unknown as Record<Faultable, jest.Mock>;

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

/** Makes `name` throw `code` on the calls `when` selects (all by default); the others run for real. */
function inject(name: Faultable, code: string, when: (...args: unknown[]) => boolean = () => true): void {
  const real = (realFs as unknown as Record<Faultable, (...a: unknown[]) => unknown>)[name];
  faultable[name].mockImplementation((...args: unknown[]) => {
    if (when(...args)) throw errno(code);
    return real(...args);
  });
}

function resetFaults(): void {
  for (const name of FAULTABLE) faultable[name].mockImplementation((realFs as unknown as Record<Faultable, (...a: unknown[]) => unknown>)[name]);
}

afterEach(resetFaults);
const children = childrenPerTest();
const tmp = tmpDirPerTest('atomic');

describe('writeFileAtomic', () => {
  it('writes the file and leaves no temp behind', () => {
    const file = tmp.path('sub', 'r.json');
    writeFileAtomic(file, '{"a":1}');
    writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect(fs.readFileSync(file)).toEqual(Buffer.from([1, 2, 3]));
    expect(fs.readdirSync(path.dirname(file))).toEqual(['r.json']);
  });

  it('fsyncs the file and its folder by default, and neither with durable: false (still atomic, no temp left)', () => {
    const file = tmp.path('c', 'entry.json');
    faultable.fsyncSync.mockClear();
    writeFileAtomic(file, 'first');
    expect(faultable.fsyncSync).toHaveBeenCalledTimes(2);
    faultable.fsyncSync.mockClear();
    // A failing fsync would fail the write: with durable: false none is made.
    inject('fsyncSync', 'EIO');
    writeFileAtomic(file, 'second', { durable: false });
    expect(faultable.fsyncSync).not.toHaveBeenCalled();
    expect(fs.readFileSync(file, 'utf8')).toBe('second');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['entry.json']);
  });

  it('removes the temps a dead process left for the same file, keeps those of live processes and of other files', () => {
    const dead = deadPid();
    const live = children.sleeper().pid!;
    const names = {
      dead: `.r.json.${dead}.0.tmp`,
      dead2: `.r.json.${dead}.17.tmp`,
      self: `.r.json.${process.pid}.999.tmp`,
      live: `.r.json.${live}.3.tmp`,
      otherFile: `.other.json.${dead}.0.tmp`,
      longerName: `.r.json.1.${dead}.0.tmp`, // a temp of 'r.json.1'
      notTemp: `.r.json.${dead}.0.tmp.bak`,
    };
    for (const name of Object.values(names)) fs.writeFileSync(tmp.path(name), 'partial');
    writeFileAtomic(tmp.path('r.json'), 'complete');
    expect(fs.readFileSync(tmp.path('r.json'), 'utf8')).toBe('complete');
    const left = new Set(fs.readdirSync(tmp.dir));
    expect(left.has(names.dead)).toBe(false);
    expect(left.has(names.dead2)).toBe(false);
    for (const kept of ['self', 'live', 'otherFile', 'longerName', 'notTemp'] as const) expect([kept, left.has(names[kept])]).toEqual([kept, true]);
    expect(left.size).toBe(6);
  });

  it('keeps the temp of the current process', () => {
    const mine = tmp.path(`.m.onnx.${process.pid}.0.tmp`);
    fs.writeFileSync(mine, 'in flight');
    writeFileAtomic(tmp.path('m.onnx'), 'x');
    expect(fs.readFileSync(mine, 'utf8')).toBe('in flight');
  });
});

/**
 * A character device like /dev/null (1, 3), made in the test folder so that a
 * bug can never replace the system's /dev/null. Where mknod is not permitted
 * (not root), the system's, which working code never replaces.
 */
function charDevice(): string {
  const p = tmp.path('null-device');
  return spawnSync('mknod', [p, 'c', '1', '3']).status === 0 ? p : '/dev/null';
}

describe('writeFileAtomic: links, devices, FIFOs, folders, sockets', () => {
  it('writes through a chain of links to the target, in its folder; the links stay links', () => {
    const target = tmp.path('data', 'target.json');
    fs.mkdirSync(path.dirname(target));
    fs.writeFileSync(target, 'old');
    fs.mkdirSync(tmp.path('out'));
    const inner = tmp.path('out', 'inner.json');
    fs.symlinkSync('../data/target.json', inner); // relative: from the link's folder
    const outer = tmp.path('outer.json');
    fs.symlinkSync(inner, outer); // absolute
    writeFileAtomic(outer, 'new');
    expect(fs.readFileSync(target, 'utf8')).toBe('new');
    expect([fs.lstatSync(outer).isSymbolicLink(), fs.readlinkSync(outer)]).toEqual([true, inner]);
    expect([fs.lstatSync(inner).isSymbolicLink(), fs.readlinkSync(inner)]).toEqual([true, '../data/target.json']);
    expect(atomicTemps(tmp.dir)).toEqual([]);
  });

  it('a dangling link: creates its target (and the target folder), keeps the link', () => {
    const target = tmp.path('missing', 'sub', 'r.json');
    const link = tmp.path('r.json');
    fs.symlinkSync(target, link);
    writeFileAtomic(link, '{"a":1}');
    expect(fs.readFileSync(target, 'utf8')).toBe('{"a":1}');
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(atomicTemps(path.dirname(target))).toEqual([]);
  });

  it('keeps the permission bits of the file it replaces', () => {
    const file = tmp.path('private.json');
    fs.writeFileSync(file, 'old');
    fs.chmodSync(file, 0o600);
    writeFileAtomic(file, 'new');
    expect([fs.readFileSync(file, 'utf8'), fs.statSync(file).mode & 0o777]).toEqual(['new', 0o600]);
  });

  it('a link loop: one DataError naming the path, nothing written', () => {
    const a = tmp.path('a');
    const b = tmp.path('b');
    fs.symlinkSync(b, a);
    fs.symlinkSync(a, b);
    expect(() => writeFileAtomic(a, 'x')).toThrow(DataError);
    expect(() => writeFileAtomic(a, 'x')).toThrow(`cannot write '${a}': too many levels of symbolic links`);
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(['a', 'b']);
  });

  it('a character device is written in place and stays a device, also through a link', () => {
    const device = charDevice();
    const link = tmp.path('to-device');
    fs.symlinkSync(device, link);
    expect(outputTarget(link)).toEqual({ kind: 'stream' });
    writeFileAtomic(device, 'discarded');
    writeFileAtomic(link, 'discarded');
    expect(fs.statSync(device).isCharacterDevice()).toBe(true);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(atomicTemps(tmp.dir)).toEqual([]);
  });

  it('a FIFO is written in place: its reader gets every byte, and it stays a FIFO', async () => {
    const fifo = tmp.path('pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = children.track(spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] }));
    const chunks: Buffer[] = [];
    reader.stdout!.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<number | null>((resolve) => reader.on('close', resolve));
    const data = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff)); // more than a pipe buffer
    writeFileAtomic(fifo, data);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect(await closed).toBe(0);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(atomicTemps(tmp.dir)).toEqual([]);
  });

  it('a folder given as a file: one InvalidArgumentError naming it, the folder untouched', () => {
    const folder = tmp.path('results');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'keep'), 'k');
    expect(() => writeFileAtomic(folder, 'x')).toThrow(InvalidArgumentError);
    expect(() => writeFileAtomic(folder, 'x')).toThrow(`cannot write '${folder}': it is a folder; give the path of a file`);
    expect(fs.readdirSync(folder)).toEqual(['keep']);
    expect(atomicTemps(tmp.dir)).toEqual([]);
  });

  it('a socket: refused with one InvalidArgumentError, the socket untouched', async () => {
    const sock = tmp.path('s.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      expect(() => writeFileAtomic(sock, 'x')).toThrow(InvalidArgumentError);
      expect(() => outputTarget(sock)).toThrow(`cannot write '${sock}': it is a socket`);
      expect(fs.statSync(sock).isSocket()).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('outputTarget tells what a write would do, without writing', () => {
    const file = tmp.path('f.json');
    const link = tmp.path('l.json');
    fs.symlinkSync(file, link);
    expect(outputTarget(link)).toEqual({ kind: 'file', target: file, mode: null });
    fs.writeFileSync(file, 'x');
    fs.chmodSync(file, 0o640);
    expect(outputTarget(link)).toEqual({ kind: 'file', target: file, mode: 0o640 });
    expect(() => outputTarget('')).toThrow(InvalidArgumentError);
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(['f.json', 'l.json']);
  });
});

describe('writeFileAtomic: failing file systems (faults injected in fs, since root ignores chmod)', () => {
  const isTemp = (p: unknown): boolean => String(p).endsWith('.tmp');
  const always = (): boolean => true;
  it.each<[Faultable, string, RegExp, (...a: unknown[]) => boolean]>([
    ['openSync', 'EACCES', /permission denied \(EACCES\)/, isTemp],
    ['openSync', 'EROFS', /the file system is read-only \(EROFS\); choose a folder on a writable one/, isTemp],
    ['writeSync', 'ENOSPC', /no space left on the device \(ENOSPC\); free some space or choose another folder/, always],
    ['fsyncSync', 'EIO', /EIO: simulated/, always],
    ['closeSync', 'EDQUOT', /disk quota exceeded \(EDQUOT\)/, always],
    ['renameSync', 'EROFS', /read-only \(EROFS\)/, always],
  ])('%s fails with %s: one DataError, the old file intact, no temp left', (call, code, why, when) => {
    const file = tmp.path('result.json');
    fs.writeFileSync(file, 'old complete content');
    inject(call, code, when);
    let thrown: unknown;
    try {
      writeFileAtomic(file, 'new content, longer than the old one');
    } catch (err) {
      thrown = err;
    }
    resetFaults();
    expect(thrown).toBeInstanceOf(DataError);
    const message = (thrown as Error).message;
    expect(message.startsWith(`cannot write '${file}': `)).toBe(true);
    expect(message).toMatch(why);
    expect(message).toMatch(/; nothing was written$/);
    expect(fs.readFileSync(file, 'utf8')).toBe('old complete content');
    expect(fs.readdirSync(tmp.dir)).toEqual(['result.json']);
  });

  it('ENOSPC after part of the data was written: the old file intact, no temp left', () => {
    const file = tmp.path('model.onnx');
    fs.writeFileSync(file, 'old');
    let calls = 0;
    faultable.writeSync.mockImplementation((fd: number, buf: Uint8Array, off: number, len: number) => {
      if (++calls > 1) throw errno('ENOSPC');
      return realFs.writeSync(fd, buf, off, Math.min(len, 10));
    });
    expect(() => writeFileAtomic(file, new Uint8Array(1000).fill(7))).toThrow(/ENOSPC/);
    resetFaults();
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.readdirSync(tmp.dir)).toEqual(['model.onnx']);
  });

  it('a folder that cannot be created (EROFS): one DataError, nothing created', () => {
    inject('mkdirSync', 'EROFS');
    const file = tmp.path('new', 'r.json');
    expect(() => writeFileAtomic(file, 'x')).toThrow(
      new DataError(`cannot write '${file}': the file system is read-only (EROFS); ` + 'choose a folder on a writable one; nothing was written'),
    );
    resetFaults();
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });

  it('a path through a file (ENOTDIR): one DataError', () => {
    fs.writeFileSync(tmp.path('plain'), 'p');
    const file = tmp.path('plain', 'r.json');
    expect(() => writeFileAtomic(file, 'x')).toThrow(DataError);
    expect(() => writeFileAtomic(file, 'x')).toThrow(/a part of the path is a file, not a folder \(ENOTDIR\)/);
    expect(fs.readFileSync(tmp.path('plain'), 'utf8')).toBe('p');
  });

  it('short writes are continued until every byte is out', () => {
    faultable.writeSync.mockImplementation((fd: number, buf: Uint8Array, off: number, len: number) => realFs.writeSync(fd, buf, off, Math.min(len, 3)));
    const file = tmp.path('r.json');
    const data = Buffer.from('{"every":"byte","arrives":true}');
    writeFileAtomic(file, data);
    resetFaults();
    expect(fs.readFileSync(file).equals(data)).toBe(true);
  });
});

describe('atomicTempOwner', () => {
  it.each([
    ['.m.onnx.123.0.tmp', 'm.onnx', 123],
    ['.m.onnx.123.45.tmp', 'm.onnx', 123],
    ['.m.onnx.1.123.45.tmp', 'm.onnx', null],
    ['.m.onnx.x.45.tmp', 'm.onnx', null],
    ['.m.onnx.123.tmp', 'm.onnx', null],
    ['m.onnx.123.0.tmp', 'm.onnx', null],
    ['.m.onnx.123.0.tmpx', 'm.onnx', null],
    ['.n.onnx.123.0.tmp', 'm.onnx', null],
  ])('%s (file %s) -> %p', (name, base, pid) => {
    expect(atomicTempOwner(name, base)).toBe(pid);
  });
});

describe('removeDeadProcessTemps', () => {
  const owner = (name: string): number | null => {
    const m = /^t-(\d+)-/.exec(name);
    return m === null ? null : Number(m[1]);
  };

  it('removes folders only when recursive, and ignores pids that are not pids', () => {
    const dead = deadPid();
    fs.mkdirSync(tmp.path(`t-${dead}-a`));
    fs.writeFileSync(tmp.path(`t-${dead}-a`, 'main.js'), '');
    fs.writeFileSync(tmp.path(`t-${dead}-b`), '');
    fs.writeFileSync(tmp.path('t-0-c'), '');
    fs.writeFileSync(tmp.path('t-99999999999-d'), '');
    removeDeadProcessTemps(tmp.dir, owner);
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(['t-0-c', 't-99999999999-d', `t-${dead}-a`].sort());
    removeDeadProcessTemps(tmp.dir, owner, { recursive: true });
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(['t-0-c', 't-99999999999-d']);
  });

  it('does nothing for a folder that does not exist', () => {
    expect(() => removeDeadProcessTemps(tmp.path('missing'), owner)).not.toThrow();
  });
});

describe('processAlive', () => {
  it('is true for this process, false for an exited one', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(deadPid())).toBe(false);
  });
});

import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { atomicTempOwner, processAlive, removeDeadProcessTemps, writeFileAtomic } from './atomic';

/** The pid of a process that has exited (and been reaped): no process has it now. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.status).toBe(0);
  expect(processAlive(r.pid)).toBe(false);
  return r.pid;
}

let dir: string;
let sleeper: ChildProcess | undefined;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-atomic-'));
});

afterEach(() => {
  sleeper?.kill('SIGKILL');
  sleeper = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes the file and leaves no temp behind', () => {
    const file = path.join(dir, 'sub', 'r.json');
    writeFileAtomic(file, '{"a":1}');
    writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect(fs.readFileSync(file)).toEqual(Buffer.from([1, 2, 3]));
    expect(fs.readdirSync(path.dirname(file))).toEqual(['r.json']);
  });

  it('removes the temps a dead process left for the same file, keeps those of live processes and of other files', () => {
    const dead = deadPid();
    sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const live = sleeper.pid!;
    expect(processAlive(live)).toBe(true);
    const names = {
      dead: `.r.json.${dead}.0.tmp`,
      dead2: `.r.json.${dead}.17.tmp`,
      self: `.r.json.${process.pid}.999.tmp`,
      live: `.r.json.${live}.3.tmp`,
      otherFile: `.other.json.${dead}.0.tmp`,
      longerName: `.r.json.1.${dead}.0.tmp`, // a temp of 'r.json.1'
      notTemp: `.r.json.${dead}.0.tmp.bak`,
    };
    for (const name of Object.values(names)) fs.writeFileSync(path.join(dir, name), 'partial');
    writeFileAtomic(path.join(dir, 'r.json'), 'complete');
    expect(fs.readFileSync(path.join(dir, 'r.json'), 'utf8')).toBe('complete');
    const left = new Set(fs.readdirSync(dir));
    expect(left.has(names.dead)).toBe(false);
    expect(left.has(names.dead2)).toBe(false);
    for (const kept of ['self', 'live', 'otherFile', 'longerName', 'notTemp'] as const) expect([kept, left.has(names[kept])]).toEqual([kept, true]);
    expect(left.size).toBe(6);
  });

  it('keeps the temp of the current process', () => {
    const mine = path.join(dir, `.m.onnx.${process.pid}.0.tmp`);
    fs.writeFileSync(mine, 'in flight');
    writeFileAtomic(path.join(dir, 'm.onnx'), 'x');
    expect(fs.readFileSync(mine, 'utf8')).toBe('in flight');
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
    fs.mkdirSync(path.join(dir, `t-${dead}-a`));
    fs.writeFileSync(path.join(dir, `t-${dead}-a`, 'main.js'), '');
    fs.writeFileSync(path.join(dir, `t-${dead}-b`), '');
    fs.writeFileSync(path.join(dir, 't-0-c'), '');
    fs.writeFileSync(path.join(dir, 't-99999999999-d'), '');
    removeDeadProcessTemps(dir, owner);
    expect(fs.readdirSync(dir).sort()).toEqual(['t-0-c', 't-99999999999-d', `t-${dead}-a`].sort());
    removeDeadProcessTemps(dir, owner, { recursive: true });
    expect(fs.readdirSync(dir).sort()).toEqual(['t-0-c', 't-99999999999-d']);
  });

  it('does nothing for a folder that does not exist', () => {
    expect(() => removeDeadProcessTemps(path.join(dir, 'missing'), owner)).not.toThrow();
  });
});

describe('processAlive', () => {
  it('is true for this process, false for an exited one', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(deadPid())).toBe(false);
  });
});

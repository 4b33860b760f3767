/**
 * `lip export` writes its .onnx atomically: SIGKILLed at any moment, the
 * output is absent or the complete model (byte for byte what an uninterrupted
 * export writes), and the next export removes the temp files the killed ones
 * left. Loading the checkpoint prints no warning.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { mulberry32 } from '@lip/train';
import { tmpDirPerSuite } from '@lip/test-support';
import { runLip, spawnLip, tinyTrainArgs, writeTrainData } from '@lip/test-support/cli';

/** Kills at seeded random times over the export's run time, and as many the moment its temp file appears. */
const TIMED_KILLS = 5;
const TEMP_KILLS = 5;
const SEED = 20240607;
const TEMP = /^\.m\.onnx\.(\d+)\.\d+\.tmp$/;
/** A folder a killed export left while creating its lock `m.onnx.lock`. */
const LOCK_TEMP = /^\.m\.onnx\.lock\.(\d+)\.\d+\.tmp$/;

/**
 * The pid that a leftover lock (its owner record) or lock temp (its name)
 * belongs to; null for an empty lock folder, which a run killed while
 * releasing its lock leaves (owner record removed, folder not yet: the next
 * lock replaces it, @lip/core lock.ts).
 */
function lockLeftoverPid(out: string, name: string): number | null {
  const m = LOCK_TEMP.exec(name);
  if (m !== null) return Number(m[1]);
  const dir = path.join(out, name);
  if (fs.readdirSync(dir).length === 0) return null;
  return (JSON.parse(fs.readFileSync(path.join(dir, 'owner.json'), 'utf8')) as { pid: number }).pid;
}

const tmp = tmpDirPerSuite('export-kill');
let ckpt: string;

beforeAll(async () => {
  const data = tmp.path('data');
  writeTrainData(data);
  ckpt = tmp.path('ckpt');
  const r = await runLip(tinyTrainArgs(data, ckpt, 1));
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
});

async function logitsOf(file: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  try {
    const x = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => (i % 97) / 96);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [2, 1, 28, 28]) });
    return Float32Array.from(out[session.outputNames[0]].data as Float32Array);
  } finally {
    await session.release();
  }
}

/**
 * Runs `lip export` into `out` and SIGKILLs it after `delayMs`, counted from
 * the start or, with `onTemp`, from the moment its temp file appears.
 */
async function exportAndKill(out: string, delayMs: number, onTemp: boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; pid: number }> {
  const p = spawnLip(['export', ckpt, '-o', path.join(out, 'm.onnx')]);
  const kill = (): void => {
    setTimeout(() => p.child.kill('SIGKILL'), delayMs);
  };
  // Its own temp, not an earlier run's that its clean-up removes.
  const isOwnTemp = (name: string | null): boolean => name !== null && TEMP.exec(name)?.[1] === String(p.child.pid);
  const watcher = onTemp
    ? fs.watch(out, (_event, name) => {
        if (isOwnTemp(name)) kill();
      })
    : undefined;
  if (!onTemp) kill();
  try {
    const { code, signal } = await p.closed;
    return { code, signal, pid: p.child.pid! };
  } finally {
    watcher?.close();
  }
}

describe('SIGKILL during lip export', () => {
  it(`leaves no .onnx or the complete one (${TIMED_KILLS} timed kills, ${TEMP_KILLS} at the temp file), and the next export removes the temps`, async () => {
    const out = fs.mkdtempSync(tmp.path('out-'));
    const reference = tmp.path('reference.onnx');
    const ref = await runLip(['export', ckpt, '-o', reference]);
    expect({ code: ref.code, stdout: ref.stdout }).toEqual({ code: 0, stdout: expect.stringMatching(/^wrote /) });
    // A checkpoint loads silently: the non-Lipschitz-layer warning is for building a model.
    expect(ref.stderr).toBe('');
    const refBytes = fs.readFileSync(reference);
    const refLogits = await logitsOf(reference);
    expect(refLogits.every(Number.isFinite)).toBe(true);

    const rng = mulberry32(SEED);
    const outcomes: string[] = [];
    const killed = new Set<number>();
    let tempsLeft = 0;
    for (let i = 0; i < TIMED_KILLS + TEMP_KILLS; i++) {
      const onTemp = i % 2 === 1;
      // Timed kills spread over the whole run (start-up, loading, export, write); temp kills within the write.
      const delayMs = onTemp ? Math.floor(rng() * 4) : Math.floor(rng() * ref.ms * 1.3);
      fs.rmSync(path.join(out, 'm.onnx'), { force: true }); // so a complete file here comes from this run
      const { code, signal, pid } = await exportAndKill(out, delayMs, onTemp);
      if (signal === 'SIGKILL') killed.add(pid);
      else expect({ code, signal }).toEqual({ code: 0, signal: null });
      const names = fs.readdirSync(out);
      const tempPids = names.filter((n) => TEMP.test(n)).map((n) => Number(TEMP.exec(n)![1]));
      // A killed export also leaves its lock (the next export takes it over at once), or the folder it was creating it in.
      const lockLeftovers = names.filter((n) => n === 'm.onnx.lock' || LOCK_TEMP.test(n));
      // An empty lock folder names no pid: a killed run must have left it.
      const leftByKilled = (n: string): boolean => {
        const owner = lockLeftoverPid(out, n);
        return owner === null ? killed.size > 0 : killed.has(owner);
      };
      expect(lockLeftovers.map((n) => [n, leftByKilled(n)])).toEqual(lockLeftovers.map((n) => [n, true]));
      expect(names.filter((n) => n !== 'm.onnx' && !TEMP.test(n) && !lockLeftovers.includes(n))).toEqual([]);
      // Temps come from killed runs only, one each; a run that got as far as its write removed the earlier ones.
      expect(tempPids.filter((p) => !killed.has(p))).toEqual([]);
      expect(new Set(tempPids).size).toBe(tempPids.length);
      const written = names.includes('m.onnx');
      if (written) {
        expect(tempPids).toEqual([]);
        expect(fs.readFileSync(path.join(out, 'm.onnx')).equals(refBytes)).toBe(true);
        expect(await logitsOf(path.join(out, 'm.onnx'))).toEqual(refLogits);
      } else {
        expect(signal).toBe('SIGKILL');
      }
      const mine = tempPids.includes(pid);
      if (mine) tempsLeft++;
      outcomes.push(
        `${onTemp ? 'temp+' : ''}${delayMs} ms: ${signal ?? `exit ${code}`}, ${written ? 'complete .onnx' : 'no .onnx'}${mine ? ', left its temp' : ''}`,
      );
    }
    // One more leftover, named as a killed run names it, so the cleanup below is exercised even
    // if no kill above happened to land inside the write (on ext4 most temp kills do).
    const lastKilled = [...killed].pop()!;
    fs.writeFileSync(path.join(out, `.m.onnx.${lastKilled}.99.tmp`), refBytes.subarray(0, 1000));

    const r = await runLip(['export', ckpt, '-o', path.join(out, 'm.onnx')]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(fs.readdirSync(out)).toEqual(['m.onnx']);
    expect(fs.readFileSync(path.join(out, 'm.onnx')).equals(refBytes)).toBe(true);
    console.log(`lip export kills (${tempsLeft} temp files left by killed runs):\n${outcomes.join('\n')}`);
  });
});

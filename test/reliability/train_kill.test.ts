/**
 * `lip train` SIGKILLed while it writes a checkpoint (packages/train/src/training/commit.ts
 * simulates a crash after every step in-process; this kills the real process
 * at seeded moments of the real write). After every kill `--resume` carries
 * on; the run it finishes has the same weights, optimizer state and history
 * (each epoch once, no gap) as an uninterrupted run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { hasCheckpoint, readTrainState } from '@lip/train/node';
import { listFiles, mulberry32, tmpDirPerSuite } from '@lip/test-support';
import { CLI_TIMEOUT_MS, committedEpochs, runLip, spawnLip, tinyTrainArgs, writeTrainData } from '@lip/test-support/cli';
// Internal to train()'s crash-safe commits, not public API.
import { COMPLETE_MARKER, STAGING_DIR } from '../../packages/train/src/training/commit';

/** Kills that must land inside a checkpoint write (the other kills are counted, not required). */
const KILLS = 8;
/** Kills at most: enough for KILLS inside a write even when commits are fast (each miss halves the delays). */
const MAX_KILLS = 3 * KILLS;
/** Each killed process gets through at most 2 checkpoints, so the kills cannot finish the run. */
const EPOCHS = 2 * MAX_KILLS + 2;
/**
 * A commit of this model takes about 5 to 60 ms here (less on idle cores);
 * kills land up to this long after `.next/` appears, and a kill that lands
 * after the commit halves it for the next ones.
 */
const MAX_DELAY_MS = 30;
const SEED = 97;
const WARNING = /Sequential model contains a layer which is not a Lipschitz layer/;

const tmp = tmpDirPerSuite('train-kill');
let data: string;

beforeAll(() => {
  data = tmp.path('data');
  writeTrainData(data);
});

/** What a kill left in `out`: the commit it interrupted, if any. */
function commitState(out: string): 'between commits' | 'staging' | 'staged and complete' {
  const staging = path.join(out, STAGING_DIR);
  if (!fs.existsSync(staging)) return 'between commits';
  return fs.existsSync(path.join(staging, COMPLETE_MARKER)) ? 'staged and complete' : 'staging';
}

/**
 * Runs `lip train args` and SIGKILLs it `delayMs` after the `nth` time it
 * creates `<out>/.next/` (the start of a checkpoint write).
 */
async function trainAndKill(
  args: string[],
  out: string,
  nth: number,
  delayMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const p = spawnLip(args);
  let seen = 0;
  const watcher = fs.watch(out, (_event, name) => {
    // `.next` also shows up when it is removed (or a stale one discarded): count creations only.
    if (name !== STAGING_DIR || !fs.existsSync(path.join(out, STAGING_DIR))) return;
    if (++seen === nth) setTimeout(() => p.child.kill('SIGKILL'), delayMs);
  });
  const hang = setTimeout(() => p.child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  try {
    const { code, signal } = await p.closed;
    return { code, signal, stderr: p.stderr() };
  } finally {
    watcher.close();
    clearTimeout(hang);
  }
}

describe('SIGKILL during a checkpoint write of lip train', () => {
  it(`--resume after kills, ${KILLS} of them inside a checkpoint write, finishes the same run as without them`, async () => {
    const out = tmp.path('killed');
    fs.mkdirSync(out);
    const rng = mulberry32(SEED);
    const outcomes: string[] = [];
    let done: number[] = [];
    let inWrite = 0;
    let maxDelayMs = MAX_DELAY_MS;
    for (let i = 0; i < MAX_KILLS && inWrite < KILLS; i++) {
      const nth = 1 + Math.floor(rng() * 2);
      const delayMs = Math.floor(rng() * maxDelayMs);
      const resume = hasCheckpoint(out);
      const args = resume ? [...tinyTrainArgs(data, out, EPOCHS), '--resume'] : tinyTrainArgs(data, out, EPOCHS);
      const r = await trainAndKill(args, out, nth, delayMs);
      const context = `kill ${i + 1}: ${JSON.stringify(args)}\nstderr:\n${r.stderr}`;
      expect({ signal: r.signal, context }).toEqual({ signal: 'SIGKILL', context });
      // A loaded checkpoint is not a built model: the warning shows on a fresh run only.
      if (resume) expect({ stderr: r.stderr, context }).toEqual({ stderr: expect.not.stringMatching(WARNING), context });
      const state = commitState(out);
      const epochs = committedEpochs(out);
      // Each epoch once, in order; no committed epoch is ever lost.
      expect(epochs).toEqual(epochs.map((_, j) => j + 1));
      expect(epochs.length).toBeGreaterThanOrEqual(done.length);
      expect(epochs.length).toBeLessThan(EPOCHS);
      done = epochs;
      if (state === 'between commits') maxDelayMs = Math.max(1, Math.floor(maxDelayMs / 2));
      else inWrite++;
      outcomes.push(`${resume ? 'resume' : 'fresh'}, commit ${nth} + ${delayMs} ms: ${state}, ${epochs.length} epochs committed`);
    }
    console.log(`lip train kills:\n${outcomes.join('\n')}`);
    // The kills must land inside writes, or this would only repeat the mid-epoch kill test.
    expect(inWrite).toBe(KILLS);

    const resumed = await runLip([...tinyTrainArgs(data, out, EPOCHS), '--resume']);
    expect({ code: resumed.code, stderr: resumed.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(WARNING) });
    expect(committedEpochs(out)).toEqual(Array.from({ length: EPOCHS }, (_, j) => j + 1));
    expect(listFiles(out)).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'train.json', 'weights.bin']);

    const straightOut = tmp.path('straight');
    const straight = await runLip(tinyTrainArgs(data, straightOut, EPOCHS));
    // No warning at all: the seed network's one non-Lipschitz layer is a Flatten, an isometry.
    expect({ code: straight.code, stderr: straight.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(WARNING) });
    const history = (dir: string): unknown[] => readTrainState(dir).epochs.map((e) => ({ ...e, seconds: 0 }));
    expect(history(out)).toEqual(history(straightOut));
    for (const file of ['weights.bin', 'optimizer.bin']) {
      expect([file, fs.readFileSync(path.join(out, file)).equals(fs.readFileSync(path.join(straightOut, file)))]).toEqual([file, true]);
    }
  });
});

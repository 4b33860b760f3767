/**
 * One writer per output (packages/core/src/lock.ts): two `lip train` into one
 * folder, the SIGKILLed winner whose lock the next run takes over at once,
 * `--resume` after it, and the locks of `lip export -o` and `lip demo --out`.
 * Readers (`lip export` of a locked checkpoint) are never blocked.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { hasCheckpoint } from '@lip/train/node';
import { listFiles, ROOT, tmpDirPerSuite, waitFor } from '@lip/test-support';
import {
  CLI_TIMEOUT_MS,
  CliResult,
  committedEpochs,
  errorLines,
  expectCleanFailure,
  LipProcess,
  runLip,
  spawnLip,
  tinyTrainArgs,
  writeTrainData,
} from '@lip/test-support/cli';
// Internal to train()'s crash-safe commits, not public API.
import { STAGING_DIR } from '../../packages/train/src/training/commit';

/** More epochs than a test ever lets run: the winner is SIGKILLed once it has committed one. */
const ENDLESS_EPOCHS = 100_000;
const CORE_DIST = path.join(ROOT, 'packages/core/dist/index.js');

let data: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  data = tmp.path('data');
  writeTrainData(data);
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});
// After the hook above: the children are gone before their folder is removed.
const tmp = tmpDirPerSuite('lock');

function track(p: LipProcess): LipProcess {
  children.push(p.child);
  return p;
}

async function result(p: LipProcess): Promise<CliResult> {
  const started = Date.now();
  const { code, signal } = await p.closed;
  return { code, signal, stdout: p.stdout(), stderr: p.stderr(), ms: Date.now() - started };
}

function inUse(what: string, target: string, pid: number, hint: string): RegExp {
  const name = target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^error: ${what} ${name} is in use by another lip process \\(pid ${pid}, started \\S+Z: .*\\); wait for it to finish or ${hint}$`);
}

describe('one writer per output', () => {
  const out = (): string => tmp.path('run');
  let winnerPid = 0;
  let epochsAtKill: number[] = [];

  it('two lip train into one folder: one trains, the other exits 2 naming its pid', async () => {
    const a = track(spawnLip(tinyTrainArgs(data, out(), ENDLESS_EPOCHS)));
    const b = track(spawnLip(tinyTrainArgs(data, out(), ENDLESS_EPOCHS)));
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), CLI_TIMEOUT_MS);
    });
    const first = await Promise.race([a.closed.then(() => a), b.closed.then(() => b), hang]);
    clearTimeout(timer);
    expect({ exited: first !== null }).toEqual({ exited: true }); // without a lock both train on
    const loser = first!;
    const winner = loser === a ? b : a;
    winnerPid = winner.child.pid!;
    expect(winner.child.exitCode).toBe(null);
    expectCleanFailure(await result(loser), inUse('output folder', out(), winnerPid, 'use another --out'));

    // A writer with --resume is refused as well, once the winner has a checkpoint.
    await waitFor('the first checkpoint', () => hasCheckpoint(out()));
    const resumed = await runLip([...tinyTrainArgs(data, out(), ENDLESS_EPOCHS), '--resume']);
    expectCleanFailure(resumed, inUse('output folder', out(), winnerPid, 'use another --out'));

    winner.child.kill('SIGKILL');
    expect(await winner.closed).toEqual({ code: null, signal: 'SIGKILL' });
    // The dead winner's lock is left behind, naming it.
    const owner = JSON.parse(fs.readFileSync(`${out()}.lock/owner.json`, 'utf8')) as { pid: number };
    expect(owner.pid).toBe(winnerPid);
    // Only the winner wrote: each committed epoch once, in order.
    epochsAtKill = committedEpochs(out());
    expect(epochsAtKill.length).toBeGreaterThanOrEqual(1);
    expect(epochsAtKill).toEqual(epochsAtKill.map((_, i) => i + 1));
  });

  it("--resume after the SIGKILL takes over the dead holder's lock at once and finishes the run", async () => {
    expect(fs.existsSync(`${out()}.lock`)).toBe(true);
    const target = epochsAtKill.length + 2;
    const r = await runLip([...tinyTrainArgs(data, out(), target), '--resume']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining(`resuming ${out()} after epoch`) });
    expect(committedEpochs(out())).toEqual(Array.from({ length: target }, (_, i) => i + 1));
    expect(listFiles(out())).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'train.json', 'weights.bin']);
    expect(fs.existsSync(`${out()}.lock`)).toBe(false);
  });

  it('a run whose lock is removed under it stops at its next checkpoint with exit 2, its checkpoint intact', async () => {
    const lost = tmp.path('lost');
    const p = track(spawnLip(tinyTrainArgs(data, lost, ENDLESS_EPOCHS)));
    await waitFor('the first checkpoint', () => hasCheckpoint(lost));
    fs.rmSync(`${lost}.lock`, { recursive: true });
    // proper-lockfile notices at its next refresh (DEFAULT_LOCK_UPDATE_MS); without the check the run goes on.
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), CLI_TIMEOUT_MS);
    });
    const ended = await Promise.race([p.closed, hang]);
    clearTimeout(timer);
    expect({ ended: ended !== null }).toEqual({ ended: true });
    const r = await result(p);
    // Its epoch lines come first: not expectCleanFailure, which allows no progress.
    const lostLine =
      /^error: output folder .*lost: another process removed or took its lock .*lost\.lock \(.*\); stopped so that the two do not mix their files$/;
    expect({ code: r.code, errors: errorLines(r.stderr) }).toEqual({ code: 2, errors: [expect.stringMatching(lostLine)] });
    expect(r.stderr).not.toMatch(/^\s+at |internal error/m);
    const epochs = committedEpochs(lost);
    expect(epochs).toEqual(epochs.map((_, i) => i + 1));
    expect(listFiles(lost)).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'train.json', 'weights.bin']);
  });

  it('lip export -o, lip demo --out and lip train refuse while another process holds their lock; readers are not blocked', async () => {
    const onnx = tmp.path('model.onnx');
    const demoOut = tmp.path('demo');
    // A process holding the three locks through @lip/core, as a running lip would.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const { acquireOutputLock } = require(${JSON.stringify(CORE_DIST)});
        (async () => {
          for (const t of JSON.parse(process.argv[1])) await acquireOutputLock(t, { what: 'x', hint: 'y' });
          process.stdout.write('held\\n');
          setInterval(() => {}, 1000);
        })();`,
        JSON.stringify([onnx, demoOut, out()]),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(holder);
    let said = '';
    holder.stdout!.on('data', (d: Buffer) => {
      said += d.toString();
    });
    await waitFor('the holder to take its locks', () => said.includes('held'));
    const pid = holder.pid!;

    const exported = await runLip(['export', out(), '-o', onnx]);
    expectCleanFailure(exported, inUse('output file', onnx, pid, 'use another -o'));
    expect(fs.existsSync(onnx)).toBe(false);

    const demo = await runLip(['demo', '--out', demoOut, '--data', data, '--limit', '32', '--epochs', '1', '--backend', 'wasm', '--workers', '1']);
    expectCleanFailure(demo, inUse('output folder', demoOut, pid, 'use another --out'));
    expect(fs.existsSync(demoOut)).toBe(false);

    // The holder's checkpoint write in progress is not the refused run's to discard (train's recoverCommit runs under the lock).
    const staged = path.join(out(), STAGING_DIR, 'weights.bin');
    fs.mkdirSync(path.dirname(staged));
    fs.writeFileSync(staged, 'being written');
    const trained = await runLip([...tinyTrainArgs(data, out(), 100), '--resume']);
    expectCleanFailure(trained, inUse('output folder', out(), pid, 'use another --out'));
    expect(fs.readFileSync(staged, 'utf8')).toBe('being written');
    fs.rmSync(path.dirname(staged), { recursive: true });

    // Reading the locked checkpoint is fine.
    const read = await runLip(['export', out(), '-o', tmp.path('read.onnx')]);
    expect({ code: read.code, stderr: read.stderr }).toEqual({ code: 0, stderr: '' });

    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('close', resolve));
    const again = await runLip(['export', out(), '-o', onnx]);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
    expect(fs.existsSync(onnx)).toBe(true);
    expect(fs.existsSync(`${onnx}.lock`)).toBe(false);
  });
});

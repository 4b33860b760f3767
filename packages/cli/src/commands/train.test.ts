import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { lip } from '../../test/run_captured';

const LIP = path.resolve(__dirname, '../../dist/bin/lip.js');
const DATA = '/usr/share/datasets/fashion-mnist';
/** Small runs of the reference network: 256 training and 256 validation images per epoch. */
const SMALL = ['--arch', 'seed', '--limit', '256', '--batch-size', '64', '--lr', '0.003', '--data', DATA, '--backend', 'wasm'];

/** `lip train ...args`, captured. */
async function runCaptured(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const r = await lip('train', ...args);
  return { code: r.code, stderr: r.err, stdout: r.out };
}

describe('lip train: bad input', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-cli-train-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it.each([
    [['--epochs', '-1'], `error: '--epochs' must be a positive integer, got '-1'`],
    [['--epochs', '2.5'], `error: '--epochs' must be a positive integer, got '2.5'`],
    [['--batch-size', '0'], `error: '--batch-size' must be a positive integer, got '0'`],
    [['--limit', 'ten'], `error: '--limit' must be a positive integer, got 'ten'`],
    [['--lr', '0'], `error: '--lr' must be a finite number > 0, got '0'`],
    [['--lr', 'Infinity'], `error: '--lr' must be a finite number > 0, got 'Infinity'`],
    [['--alpha', 'NaN'], `error: '--alpha' must be a finite number >= 0, got 'NaN'`],
    [['--min-margin', '-0.1'], `error: '--min-margin' must be a finite number > 0, got '-0.1'`],
    [['--seed', '-3'], `error: '--seed' must be an integer in [0, 4294967295], got '-3'`],
    [['--workers', '0'], `error: '--workers' must be a positive integer, got '0'`],
    [['--workers', '65'], `error: '--workers' must be an integer in [1, 64], got 65`],
  ])('%j exits 2 with one line', async (args, line) => {
    const { code, stderr, stdout } = await runCaptured([...args, '--out', tmp]);
    expect(code).toBe(2);
    expect(stderr).toBe(`${line}\n`);
    expect(stdout).toBe('');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('rejects an unknown flag, an unknown backend and an unknown schedule with exit code 2', async () => {
    for (const [args, message] of [
      [['--bogus'], /unknown option '--bogus'/],
      [['--backend', 'gpu'], /'gpu' is invalid/],
      [['--lr-schedule', 'step'], /'step' is invalid.*Allowed choices are constant, linear, cosine/],
    ] as const) {
      const { code, stderr } = await runCaptured([...args, '--out', tmp]);
      expect(code).toBe(2);
      const errors = stderr.split('\n').filter((l) => l.startsWith('error:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
    }
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('--lr-schedule is stored in train.json, and --resume refuses another one', async () => {
    const tiny = ['--limit', '64', '--batch-size', '32', '--epochs', '1', '--data', DATA, '--backend', 'wasm', '--workers', '1', '--out', tmp];
    const trained = await runCaptured([...tiny, '--lr-schedule', 'cosine']);
    expect(trained.code).toBe(0);
    const state = JSON.parse(fs.readFileSync(path.join(tmp, 'train.json'), 'utf8'));
    expect(state.config.lrSchedule).toBe('cosine');
    expect(state.epochs[0].lr).toBeCloseTo(0.02 * 5e-4, 15); // the default --lr, 2% at the last step
    expect(trained.stderr).toMatch(/^epoch 1\/1 .* lr 1\.00e-5 {2}\d+\.\ds$/m);
    const refused = await runCaptured([...tiny, '--resume', '--epochs', '2', '--lr-schedule', 'linear']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `error: '--lr-schedule' is "linear" but the checkpoint in ${tmp} was trained with "cosine"; ` +
        'a resumed run keeps its settings (drop the option or start a new --out)\n',
    );
  });

  it('refuses --resume without a checkpoint', async () => {
    const { code, stderr } = await runCaptured(['--resume', '--out', tmp]);
    expect(code).toBe(2);
    expect(stderr).toBe(`error: '--resume': ${tmp} holds no checkpoint (no train.json); train without --resume first\n`);
  });
});

interface Child {
  proc: ChildProcess;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnLip(args: string[]): Child {
  const proc = spawn(process.execPath, [LIP, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, stderr: () => stderr, exit };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function epochsIn(dir: string): number[] {
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'train.json'), 'utf8'));
  return state.epochs.map((e: { epoch: number }) => e.epoch);
}

describe('lip train: interruptions (child process)', () => {
  let tmp: string;
  beforeAll(() => {
    if (!fs.existsSync(LIP)) throw new Error(`${LIP} is missing: build first (npx tsc -b)`);
  });
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-cli-kill-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('SIGKILL at any moment, then --resume, finishes the same run as without the kills', async () => {
    const out = path.join(tmp, 'killed');
    const resume = ['--resume', '--epochs', '4', '--out', out, '--data', DATA, '--backend', 'wasm'];
    const first = spawnLip([...SMALL, '--epochs', '4', '--out', out]);
    await waitFor(() => fs.existsSync(path.join(out, 'train.json')), 'the first checkpoint');
    // Kill during epoch 2 (or while its checkpoint is written), then once more early in a resumed run.
    for (const [child, delayMs] of [[first, 300], [null, 1500]] as const) {
      const victim = child ?? spawnLip(resume);
      await new Promise((r) => setTimeout(r, delayMs));
      victim.proc.kill('SIGKILL');
      expect((await victim.exit).signal).toBe('SIGKILL');
      const done = epochsIn(out);
      expect(done).toEqual(done.map((_, i) => i + 1));
      expect(done.length).toBeLessThan(4);
    }

    const resumed = spawnLip(resume);
    expect((await resumed.exit).code).toBe(0);
    expect(resumed.stderr()).toMatch(/backend: wasm/);
    expect(epochsIn(out)).toEqual([1, 2, 3, 4]);
    expect(fs.readdirSync(out).sort()).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'train.json', 'weights.bin']);

    const straightOut = path.join(tmp, 'straight');
    const straight = spawnLip([...SMALL, '--epochs', '4', '--out', straightOut]);
    expect((await straight.exit).code).toBe(0);
    const history = (dir: string): unknown[] =>
      JSON.parse(fs.readFileSync(path.join(dir, 'train.json'), 'utf8')).epochs.map((e: { seconds?: number }) => ({ ...e, seconds: 0 }));
    expect(history(out)).toEqual(history(straightOut));
    expect(fs.readFileSync(path.join(out, 'weights.bin')).equals(fs.readFileSync(path.join(straightOut, 'weights.bin')))).toBe(true);
  });

  it('Ctrl-C stops cleanly with exit code 130 and a checkpoint to resume', async () => {
    const out = path.join(tmp, 'run');
    const child = spawnLip([...SMALL, '--epochs', '50', '--out', out]);
    await waitFor(() => fs.existsSync(path.join(out, 'train.json')), 'the first checkpoint');
    child.proc.kill('SIGINT');
    const { code } = await child.exit;
    expect(code).toBe(130);
    expect(child.stderr()).toMatch(/stopped: .* holds the checkpoint of epoch \d+; continue with --resume/);
    const done = epochsIn(out);
    expect(done).toEqual(done.map((_, i) => i + 1));
    expect(fs.existsSync(path.join(out, '.next'))).toBe(false);
    // Non-TTY stderr: one plain line per epoch, no progress bar.
    const lines = child.stderr().split('\n').filter((l) => l.startsWith('epoch '));
    expect(lines).toHaveLength(done.length);
    expect(lines[0]).toMatch(/^epoch 1\/50 {2}loss -?\d+\.\d{4} {2}acc .* val_acc \d\.\d{4} .*s$/);

    // The same folder without --resume is refused rather than overwritten.
    const again = spawnLip([...SMALL, '--epochs', '2', '--out', out]);
    expect((await again.exit).code).toBe(2);
    expect(again.stderr()).toMatch(/already holds a checkpoint \(\d+ epochs\): pass --resume/);
  });
});

import * as fs from 'fs';
import * as path from 'path';
import { tmpDirPerTest, waitFor } from '@lip/test-support';
import { committedEpochs, lip, LIP_BIN, spawnLip } from '@lip/test-support/cli';
import { FASHION_DIR } from '@lip/test-support/data';
import { recipeSettings } from '@lip/train/node';

/** Small runs of the reference network: 256 training and 256 validation images per epoch. */
const SMALL = ['--arch', 'seed', '--limit', '256', '--batch-size', '64', '--lr', '0.003', '--data', FASHION_DIR, '--backend', 'wasm'];

/** `lip train ...args`, captured. */
async function runCaptured(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const r = await lip('train', ...args);
  return { code: r.code, stderr: r.err, stdout: r.out };
}

describe('lip train: bad input', () => {
  const tmp = tmpDirPerTest('cli-train');

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
    [['--loss', 'margin_cce', '--offset', '-1'], `error: '--offset' must be a finite number >= 0, got '-1'`],
    [['--loss', 'lse_hkr', '--temperature', '0'], `error: '--temperature' must be a finite number > 0, got '0'`],
    [['--offset', '1'], `error: '--offset' is not a parameter of loss 'hkr' (its parameters: alpha, minMargin)`],
    [['--loss', 'lse_hkr', '--alpha', '5'], `error: loss 'lse_hkr': '--alpha' must be a number in [0, 1], got 5`],
    [['--loss', 'soft_hkr', '--alpha-mean', '2'], `error: loss 'soft_hkr': '--alpha-mean' must be a number in [0, 1], got 2`],
  ])('%j exits 2 with one line', async (args, line) => {
    const { code, stderr, stdout } = await runCaptured([...args, '--out', tmp.dir]);
    expect(code).toBe(2);
    expect(stderr).toBe(`${line}\n`);
    expect(stdout).toBe('');
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });

  it('rejects an unknown flag, an unknown backend and an unknown schedule with exit code 2', async () => {
    for (const [args, message] of [
      [['--bogus'], /unknown option '--bogus'/],
      [['--backend', 'gpu'], /'gpu' is invalid/],
      [['--lr-schedule', 'step'], /'step' is invalid.*Allowed choices are constant, linear, cosine/],
      [['--recipe', 'quick'], /'quick' is invalid.*Allowed choices are fast, reference/],
    ] as const) {
      const { code, stderr } = await runCaptured([...args, '--out', tmp.dir]);
      expect(code).toBe(2);
      const errors = stderr.split('\n').filter((l) => l.startsWith('error:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
    }
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });

  it('--lr-schedule is stored in train.json, and --resume refuses another one', async () => {
    const tiny = ['--limit', '64', '--batch-size', '32', '--epochs', '1', '--data', FASHION_DIR, '--backend', 'wasm', '--workers', '1', '--out', tmp.dir];
    const trained = await runCaptured([...tiny, '--lr-schedule', 'cosine']);
    expect(trained.code).toBe(0);
    const state = JSON.parse(fs.readFileSync(tmp.path('train.json'), 'utf8'));
    expect(state.config.lrSchedule).toBe('cosine');
    expect(state.epochs[0].lr).toBeCloseTo(0.02 * 5e-4, 15); // the default --lr, 2% at the last step
    expect(trained.stderr).toMatch(/^epoch 1\/1 .* lr 1\.00e-5 {2}\d+\.\ds$/m);
    const refused = await runCaptured([...tiny, '--resume', '--epochs', '2', '--lr-schedule', 'linear']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `error: '--lr-schedule' is "linear" but the checkpoint in ${tmp.dir} was trained with "cosine"; ` +
        'a resumed run keeps its settings (drop the option or start a new --out)\n',
    );
  });

  it('--loss margin_cce --offset: the loss and its parameters, defaults filled in, are stored in train.json', async () => {
    const tiny = ['--limit', '64', '--batch-size', '32', '--epochs', '1', '--data', FASHION_DIR, '--backend', 'wasm', '--workers', '1', '--out', tmp.dir];
    const trained = await runCaptured([...tiny, '--loss', 'margin_cce', '--offset', '0.4']);
    expect(trained.code).toBe(0);
    const { config } = JSON.parse(fs.readFileSync(tmp.path('train.json'), 'utf8'));
    expect(config).toMatchObject({ loss: 'margin_cce', offset: 0.4, temperature: 0.25 });
    expect(config.penalty).toBeUndefined();
    const refused = await runCaptured([...tiny, '--resume', '--epochs', '2', '--temperature', '0.5']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: '--temperature' is 0\.5 but the checkpoint in .* was trained with 0\.25;/);
  });

  it('--recipe fast sets the run settings the flags leave out, and --resume checks them', async () => {
    const tiny = ['--limit', '64', '--batch-size', '32', '--epochs', '1', '--data', FASHION_DIR, '--backend', 'wasm', '--workers', '1', '--out', tmp.dir];
    const trained = await runCaptured(['--recipe', 'fast', ...tiny]);
    expect(trained.code).toBe(0);
    const { config } = JSON.parse(fs.readFileSync(tmp.path('train.json'), 'utf8'));
    const { epochs: _epochs, batchSize: _batchSize, ...fromRecipe } = recipeSettings('fast');
    expect(config).toMatchObject({ ...fromRecipe, epochs: 1, batchSize: 32 });
    const refused = await runCaptured([...tiny, '--resume', '--epochs', '2', '--recipe', 'reference']);
    expect(refused.code).toBe(2);
    // --batch-size is given again (the same): the first setting that differs is the recipe's lr.
    expect(refused.stderr).toBe(
      `error: '--lr' is ${recipeSettings('reference').lr} (from recipe "reference") but the checkpoint in ${tmp.dir} was trained with ${config.lr}; ` +
        'a resumed run keeps its settings (drop the option or start a new --out)\n',
    );
  });

  it('refuses --resume without a checkpoint', async () => {
    const { code, stderr } = await runCaptured(['--resume', '--out', tmp.dir]);
    expect(code).toBe(2);
    expect(stderr).toBe(`error: '--resume': ${tmp.dir} holds no checkpoint (no train.json); train without --resume first\n`);
  });
});

describe('lip train: interruptions (child process)', () => {
  beforeAll(() => {
    if (!fs.existsSync(LIP_BIN)) throw new Error(`${LIP_BIN} is missing: build first (npx tsc -b)`);
  });
  const tmp = tmpDirPerTest('cli-kill');

  it('SIGKILL at any moment, then --resume, finishes the same run as without the kills', async () => {
    const out = tmp.path('killed');
    const resume = ['--resume', '--epochs', '4', '--out', out, '--data', FASHION_DIR, '--backend', 'wasm'];
    const first = spawnLip(['train', ...SMALL, '--epochs', '4', '--out', out]);
    await waitFor('the first checkpoint', () => fs.existsSync(path.join(out, 'train.json')));
    // Kill during epoch 2 (or while its checkpoint is written), then once more early in a resumed run.
    for (const [child, delayMs] of [
      [first, 300],
      [null, 1500],
    ] as const) {
      const victim = child ?? spawnLip(['train', ...resume]);
      await new Promise((r) => setTimeout(r, delayMs));
      victim.child.kill('SIGKILL');
      expect((await victim.closed).signal).toBe('SIGKILL');
      const done = committedEpochs(out);
      expect(done).toEqual(done.map((_, i) => i + 1));
      expect(done.length).toBeLessThan(4);
    }

    const resumed = spawnLip(['train', ...resume]);
    expect((await resumed.closed).code).toBe(0);
    expect(resumed.stderr()).toMatch(/backend: wasm/);
    expect(committedEpochs(out)).toEqual([1, 2, 3, 4]);
    expect(fs.readdirSync(out).sort()).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'train.json', 'weights.bin']);

    const straightOut = tmp.path('straight');
    const straight = spawnLip(['train', ...SMALL, '--epochs', '4', '--out', straightOut]);
    expect((await straight.closed).code).toBe(0);
    const history = (dir: string): unknown[] =>
      JSON.parse(fs.readFileSync(path.join(dir, 'train.json'), 'utf8')).epochs.map((e: { seconds?: number }) => ({ ...e, seconds: 0 }));
    expect(history(out)).toEqual(history(straightOut));
    expect(fs.readFileSync(path.join(out, 'weights.bin')).equals(fs.readFileSync(path.join(straightOut, 'weights.bin')))).toBe(true);
  });

  it('Ctrl-C stops cleanly with exit code 130 and a checkpoint to resume', async () => {
    const out = tmp.path('run');
    const run = spawnLip(['train', ...SMALL, '--epochs', '50', '--out', out]);
    await waitFor('the first checkpoint', () => fs.existsSync(path.join(out, 'train.json')));
    run.child.kill('SIGINT');
    const { code } = await run.closed;
    expect(code).toBe(130);
    expect(run.stderr()).toMatch(/stopped: .* holds the checkpoint of epoch \d+; continue with --resume/);
    const done = committedEpochs(out);
    expect(done).toEqual(done.map((_, i) => i + 1));
    expect(fs.existsSync(path.join(out, '.next'))).toBe(false);
    // Non-TTY stderr: one plain line per epoch, no progress bar.
    const lines = run
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('epoch '));
    expect(lines).toHaveLength(done.length);
    expect(lines[0]).toMatch(/^epoch 1\/50 {2}loss -?\d+\.\d{4} {2}acc .* val_acc \d\.\d{4} .*s$/);

    // The same folder without --resume is refused rather than overwritten.
    const again = spawnLip(['train', ...SMALL, '--epochs', '2', '--out', out]);
    expect((await again.closed).code).toBe(2);
    expect(again.stderr()).toMatch(/already holds a checkpoint \(\d+ epochs\): pass --resume/);
  });
});

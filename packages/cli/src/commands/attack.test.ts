import * as fs from 'fs';
import * as path from 'path';
import { createProgress } from '@lip/core';
import { fakeTerminal, tmpDirPerSuite } from '@lip/test-support';
import { lip } from '@lip/test-support/cli';
import { haveFashionMnist } from '@lip/test-support/data';
import { orthonormalLinearModel, productModel } from '@lip/test-support/onnx';
import { attackProgressListener, formatAttackTable } from './attack';

(haveFashionMnist() ? describe : describe.skip)('lip attack', () => {
  const tmp = tmpDirPerSuite('attack');
  const honest = tmp.path('honest.onnx');
  const cheat = tmp.path('cheat.onnx');
  const unbounded = tmp.path('unbounded.onnx');
  beforeAll(() => {
    fs.writeFileSync(honest, orthonormalLinearModel(28, 28, 10, 5).bytes);
    // Weights x4, metadata still claims L = 1.
    fs.writeFileSync(cheat, orthonormalLinearModel(28, 28, 10, 5, 4).bytes);
    // No global bound: the certificates rest on --lipschitz alone.
    fs.writeFileSync(unbounded, productModel(28, 28, 10, 5));
  });

  it('exits 3 and reports violations when the --lipschitz claim of a graph with no bound is too low', async () => {
    const json = tmp.path('claim.json');
    const r = await lip(
      'attack',
      unbounded,
      '--attack',
      'cw',
      '--n',
      '3',
      '--steps',
      '80',
      '--binary-search-steps',
      '5',
      '--lipschitz',
      '0.01',
      '--json',
      json,
    );
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^Image # +Certificate +Distance to adversarial$/m);
    expect(r.out).toMatch(/VIOLATED/);
    expect(r.out).toMatch(/\(L = 0\.01, --lipschitz: YOUR CLAIM, NOT A PROOF, multiclass/);
    expect(r.err).toMatch(/certificate violated: .*your --lipschitz 0\.01 is below/);
    const j = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(j.attack).toBe('cw');
    expect(j.lipschitzSource).toBe('user');
    expect(j.lipschitzProven).toBe(false);
    expect(j.violations).toBeGreaterThan(0);
    expect(j.results).toHaveLength(3);
    expect(Object.keys(j.results[0]).sort()).toEqual([
      'advPred',
      'certificate',
      'closest',
      'distance',
      'found',
      'index',
      'label',
      'outcome',
      'pred',
      'violated',
    ]);
    expect(j.adversarials).toBeUndefined();
  });

  it('checks the certificates lip verify prints: a metadata claim below the bound is replaced by the bound', async () => {
    const json = tmp.path('cheat.json');
    const r = await lip('attack', cheat, '--attack', 'deepfool', '--n', '3', '--json', json);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^warning: WARNING: the model claims L = 1 but the weights give a certified bound of 4\.0/m);
    const j = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(j.lipschitzSource).toBe('bound');
    expect(j.lipschitz).toBeGreaterThan(3.99);
    expect(j.violations).toBe(0);
  });

  it('exits 0 on the honest model, one image per class, and writes a report', async () => {
    const report = tmp.path('report');
    const r = await lip('attack', honest, '--attack', 'deepfool', '--one-per-class', '--report', report);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const rows = r.out.split('\n').filter((l) => /^\d+ /.test(l));
    expect(rows).toHaveLength(10);
    // The first test image of each class of Fashion-MNIST's test split.
    expect(rows.map((l) => Number(l.split(/\s+/)[0]))).toEqual([19, 2, 1, 13, 6, 8, 4, 9, 18, 0]);
    expect(r.out).toMatch(/0 certificate violations/);
    expect(fs.existsSync(path.join(report, 'index.html'))).toBe(true);
    expect(fs.readdirSync(report).some((f) => f.endsWith('.png'))).toBe(true);
  });

  it('--workers splits the images over threads with the same results; the default is one per core', async () => {
    const args = ['attack', honest, '--attack', 'cw', '--n', '4', '--steps', '60', '--binary-search-steps', '3'];
    const one = await lip(...args, '--workers', '1');
    const two = await lip(...args, '--workers', '2');
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    expect(one.err).toMatch(/^workers: 1$/m);
    expect(two.err).toMatch(/^workers: 2$/m);
    const table = (out: string): string => out.replace(/, [\d.]+ s/, '');
    expect(table(two.out)).toBe(table(one.out));
    const dflt = await lip('attack', honest, '--attack', 'deepfool', '--n', '2');
    expect(dflt.err).toMatch(/^workers: \d+ \(one per core; --workers to change\)$/m);
    expect((await lip(...args, '--workers', '0')).err).toMatch(/^error: '--workers' must be a positive integer, got '0'$/m);
    const tooMany = await lip(...args, '--workers', '65');
    expect(tooMany.code).toBe(2);
    expect(tooMany.err).toMatch(/^error: '--workers' must be an integer in \[1, 64\], got 65$/m);
  });

  it('refuses bad arguments with exit code 2', async () => {
    expect((await lip('attack', honest, '--attack', 'pgd', '--eps', '0', '--n', '2')).err).toMatch(/^error: '--eps' must be a finite number > 0/m);
    expect((await lip('attack', honest, '--n', '0')).code).toBe(2);
    expect((await lip('attack', honest, '--n', '2', '--one-per-class')).code).toBe(2);
    const missing = await lip('attack', tmp.path('nope.onnx'), '--n', '1');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^error: .*nope\.onnx/);
  });
});

describe('formatAttackTable', () => {
  it('shows how far the attack got where it found nothing', () => {
    const base = { label: 0, pred: 0, certificate: 0.25, violated: false };
    const table = formatAttackTable({
      results: [
        { ...base, index: 3, advPred: 2, distance: 0.5, found: true, outcome: 'adversarial', closest: null },
        { ...base, index: 4, advPred: 0, distance: null, found: false, outcome: 'none', closest: { distance: 0.1412, margin: 0.3 } },
        { ...base, index: 5, advPred: 0, distance: null, found: false, outcome: 'none', closest: null },
      ],
    } as unknown as Parameters<typeof formatAttackTable>[0]);
    const lines = table.split('\n');
    expect(lines[1]).toMatch(/^3 +0\.2500 +0\.5000$/);
    expect(lines[2]).toMatch(/^4 +0\.2500 +none found \(closest 0\.1412, margin left 0\.3000\)$/);
    expect(lines[3]).toMatch(/^5 +0\.2500 +none found$/);
  });
});

describe('attackProgressListener', () => {
  /** What cw reports for two binary-search steps: throttled ticks within each, then the step. */
  const cwSteps = (show: ReturnType<typeof attackProgressListener>, batches = 1): void => {
    show({ phase: 'binary search step 1/2', done: 10, total: 200, detail: true, batch: 1, batches });
    show({ phase: 'binary search step 1/2', done: 100, total: 200, detail: true, batch: 1, batches });
    show({ phase: 'binary search step', done: 1, total: 2, batch: 1, batches });
    show({ phase: 'binary search step 2/2', done: 200, total: 200, detail: true, batch: 1, batches });
    show({ phase: 'binary search step', done: 2, total: 2, batch: 1, batches });
  };

  it('logs one line per binary-search step, without the detail ticks, when not on a terminal', () => {
    const s = fakeTerminal(false);
    const progress = createProgress({ stream: s });
    cwSteps(attackProgressListener(progress));
    progress.stop();
    expect(s.text()).toBe('binary search step: 1/2\nbinary search step: 2/2\n');
  });

  it('names the batch when there are several; other phases log their completion only', () => {
    const s = fakeTerminal(false);
    const progress = createProgress({ stream: s });
    const show = attackProgressListener(progress);
    cwSteps(show, 2);
    show({ phase: 'step', done: 1, total: 2, batch: 2, batches: 2 });
    show({ phase: 'step', done: 2, total: 2, batch: 2, batches: 2 });
    progress.stop();
    expect(s.text()).toBe('binary search step (batch 1/2): 1/2\nbinary search step (batch 1/2): 2/2\nstep (batch 2/2): 2/2\n');
  });

  it('draws the detail ticks on a terminal, not the coarser updates once ticks come', () => {
    jest.useFakeTimers();
    try {
      const s = fakeTerminal(true);
      const progress = createProgress({ stream: s });
      cwSteps(attackProgressListener(progress));
      jest.advanceTimersByTime(100);
      progress.stop();
      expect(s.text()).toMatch(/binary search step 2\/2 \[#{30}\] 200\/200 /);
      expect(s.text()).not.toMatch(/binary search step \[/);
      expect(s.text().endsWith('\n')).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });
});

/**
 * `lip demo` (`npm run demo`), reduced: one epoch on 1000 images and a short
 * CW, end to end through the five steps of the reference notebook.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onePerClass } from '@lip/train';
import { loadDataset } from '@lip/train/node';
import { tmpDirPerSuite } from '@lip/test-support';
import { lip, transcript } from '@lip/test-support/cli';
import { FASHION_DIR, haveFashionMnist } from '@lip/test-support/data';

const REDUCED = [
  '--epochs',
  '1',
  '--limit',
  '1000',
  '--batch-size',
  '100',
  '--cw-steps',
  '50',
  '--cw-binary-steps',
  '6',
  '--workers',
  '1',
  '--data',
  FASHION_DIR,
];

const describeData = haveFashionMnist() ? describe : describe.skip;

describe('npm run demo', () => {
  it('is the CLI launcher running `lip demo`', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8'));
    expect(pkg.scripts.demo).toBe('node packages/cli/bin/lip.js demo');
  });
});

describeData('lip demo, reduced (--epochs 1 --limit 1000)', () => {
  const out = tmpDirPerSuite('demo');

  it('trains, exports, verifies, attacks and reports, printing the table and the paths', async () => {
    const r = await lip('demo', '--out', out.dir, ...REDUCED);
    if (r.code !== 0 || /internal error/.test(r.err)) throw new Error(transcript(r));

    // The five steps, in order, each announced.
    const headers = [...r.out.matchAll(/^\[(\d)\/5\] (.*)$/gm)].map((m) => Number(m[1]));
    expect(headers).toEqual([1, 2, 3, 4, 5]);
    // The default schedule is `lip train --recipe fast`'s, on its network.
    expect(r.out).toMatch(/^\[1\/5\] Training the seed network on Fashion-MNIST with tau-CCE \(tau 5\): 1 epoch, batch 100, Adam lr 0\.005 \(cosine\),/m);
    // Progress: the epoch line, verify batches, CW binary-search steps.
    expect(r.err).toMatch(/^epoch 1\/1 .*val_acc \d\.\d{4}/m);
    expect(r.err).toMatch(/^verify: batch 4\/4 \(1000\/1000 images\)$/m);
    expect(r.err).toMatch(/^binary search step: 6\/6$/m);

    // The bound, the verify table and the notebook's table.
    expect(r.out).toMatch(/^total {2}\d\.\d+ {2}\(certified upper bound/m);
    expect(r.out).toMatch(/^accuracy +0\.\d{4}$/m);
    expect(r.out).toMatch(/^CRA eps=36\/255 = 0\.1412 +\d\.\d{4}$/m);
    const table = r.out.slice(r.out.indexOf('[5/5]'));
    expect(table).toMatch(/^Image # +Certificate +Distance to adversarial$/m);
    const test = await loadDataset('fashion-mnist', 'test', { dataDir: FASHION_DIR, limit: 1000 });
    const rows = table.split('\n').filter((l) => /^\d+ +\d+\.\d{4} +(\d+\.\d{4}|none found)/.test(l));
    expect(rows.map((l) => Number(l.split(/\s+/)[0]))).toEqual(onePerClass(test.labels));

    // The paths, last.
    const tail = r.out.trimEnd().split('\n').slice(-3);
    expect(tail).toEqual([
      `checkpoint: ${path.resolve(out.dir, 'checkpoint')}`,
      `onnx:       ${path.resolve(out.dir, 'model.onnx')}`,
      `report:     ${path.resolve(out.dir, 'report', 'index.html')}`,
    ]);

    // The files.
    for (const f of [
      'checkpoint/train.json',
      'checkpoint/model.json',
      'model.onnx',
      'verify.json',
      'bound.json',
      'attack-cw.json',
      'demo.json',
      'report/index.html',
      'report/cra-model.svg',
      'report/attack-cw-model.svg',
      'report/attack-cw-model-0-original.png',
    ]) {
      expect(fs.existsSync(out.path(f))).toBe(true);
    }
    const html = fs.readFileSync(out.path('report', 'index.html'), 'utf8');
    expect(html).toContain('src="cra-model.svg"');
    expect(html).toContain('src="attack-cw-model.svg"');

    const summary = JSON.parse(fs.readFileSync(out.path('demo.json'), 'utf8'));
    expect(summary.settings).toMatchObject({ arch: 'seed', loss: 'tau_cce', tau: 5, epochs: 1, limit: 1000, cwSteps: 50, cwBinarySteps: 6 });
    expect(summary.valAccuracyPerEpoch).toHaveLength(1);
    expect(summary.testImages).toBe(1000);
    expect(summary.accuracy).toBeGreaterThan(0.3);
    expect(summary.cra.map((p: { label: string }) => p.label)).toEqual(['36/255', '72/255', '108/255', '0.25', '0.5', '1.0']);
    expect(summary.lipschitzBound).toBeLessThanOrEqual(1 + 1e-5);
    expect(summary.cw.violations).toBe(0);
    expect(Object.keys(summary.seconds).sort()).toEqual(['attack', 'export', 'report', 'total', 'train', 'verify']);
    const attack = JSON.parse(fs.readFileSync(out.path('attack-cw.json'), 'utf8'));
    expect(attack.params).toMatchObject({ steps: 50, binarySearchSteps: 6 });
    expect(attack.results).toHaveLength(10);
  });

  it('runs again on the same folder without training again, and refuses other training settings', async () => {
    const again = await lip('demo', '--out', out.dir, ...REDUCED.map((a) => (a === '50' ? '10' : a)));
    if (again.code !== 0) throw new Error(transcript(again));
    expect(again.err).toMatch(/continuing the checkpoint in .* \(1 epoch done\)/);
    expect(again.err).toMatch(/nothing to train/);
    expect(again.err).not.toMatch(/^epoch /m);

    const other = await lip('demo', '--out', out.dir, ...REDUCED, '--lr', '0.001');
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/^error: '--lr' is 0\.001 but the checkpoint in .* was trained with [0-9.e-]+/m);
  });

  it('refuses bad options with exit code 2', async () => {
    for (const bad of [
      ['--epochs', '0'],
      ['--cw-steps', 'x'],
      ['--lr', '-1'],
      ['--backend', 'gpu'],
    ]) {
      const r = await lip('demo', '--out', out.path('never'), ...bad);
      expect(r.code).toBe(2);
      expect(fs.existsSync(out.path('never'))).toBe(false);
    }
  });
});

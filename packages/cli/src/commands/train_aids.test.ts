import * as fs from 'fs';
import * as path from 'path';
import { tmpDirPerTest } from '@lip/test-support';
import { lip } from '@lip/test-support/cli';
import { FASHION_DIR } from '@lip/test-support/data';

/** A small run of the reference network: 512 training and 512 validation images. */
const SMALL = ['--arch', 'seed', '--limit', '512', '--batch-size', '64', '--lr', '0.005', '--data', FASHION_DIR, '--backend', 'wasm', '--workers', '1'];

describe('lip train: training aids', () => {
  const tmp = tmpDirPerTest('cli-train-aids');

  it.each([
    [
      ['--data', 'mnist', '--augment', 'shift-flip'],
      "error: '--augment' shift-flip mirrors images, which changes the class of mnist's digits (2, 3, 7 ...); use --augment shift",
    ],
    [['--ema', '1'], "error: '--ema' must be a decay in (0, 1), e.g. 0.999, got 1"],
    [['--augment-shift', '-2'], "error: '--augment-shift' must be an integer >= 0, got '-2'"],
    [
      ['--augment-epochs', '3'],
      "error: '--augment-epochs' (3) limits an augmentation to the first epochs, but '--augment' is none: set '--augment' to shift or shift-flip, or leave '--augment-epochs' out",
    ],
    [['--augment', 'shift', '--augment-epochs', '0'], "error: '--augment-epochs' must be a positive integer, got '0'"],
  ])('%j exits 2 with one line, writing nothing', async (args, line) => {
    const out = path.join(tmp.dir, 'run');
    const r = await lip('train', ...args, '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`${line}\n`);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('--head-norm lln --ema --augment: trains 1 epoch, exports the averaged model, which verifies with the head-aware certificate', async () => {
    const out = path.join(tmp.dir, 'run');
    const trained = await lip('train', ...SMALL, '--epochs', '1', '--head-norm', 'lln', '--ema', '0.9', '--augment', 'shift-flip', '--out', out);
    expect(trained.code).toBe(0);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'train.json'), 'utf8'));
    expect(state.config).toMatchObject({ headNorm: 'lln', ema: 0.9, augment: 'shift-flip' });
    const onnx = path.join(tmp.dir, 'model.onnx');
    expect((await lip('export', out, '-o', onnx)).code).toBe(0);
    const json = path.join(tmp.dir, 'verify.json');
    const verified = await lip('verify', onnx, '--data', FASHION_DIR, '--n', '256', '--json', json);
    expect(verified.code).toBe(0);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report.certificateKind).toBe('head-aware');
    // The body (everything before the head) is 1-Lipschitz.
    expect(report.headBodyLipschitz).toBeLessThanOrEqual(1 + 1e-6);
    expect(report.accuracy).toBeGreaterThan(0.3);
  }, 600_000);

  it('--ema: the exported averaged model has a certified `lip bound` <= 1', async () => {
    const out = path.join(tmp.dir, 'run');
    expect((await lip('train', ...SMALL, '--epochs', '1', '--ema', '0.9', '--out', out)).code).toBe(0);
    const onnx = path.join(tmp.dir, 'model.onnx');
    expect((await lip('export', out, '-o', onnx)).code).toBe(0);
    const json = path.join(tmp.dir, 'bound.json');
    const bound = await lip('bound', onnx, '--json', json, '--no-cache');
    expect(bound.code).toBe(0);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(bound.out).not.toMatch(/WARNING/);
    expect(report.total).toBeLessThanOrEqual(1);
  }, 600_000);
});

import * as path from 'path';
import { InvalidArgumentError } from '@lip/core';
import { DEFAULT_SEED, recipeSettings } from '@lip/train/node';
import { DEFAULT_CW_BINARY_SEARCH_STEPS, DEFAULT_CW_STEPS } from './attack';
import {
  DEFAULT_DEMO_FULL_OUT,
  DEFAULT_DEMO_OUT,
  DEMO_SCHEDULE,
  REFERENCE_SCHEDULE,
  demoPaths,
  demoSettings,
  lossDescription,
  onePerClassImages,
} from './demo';

describe('demoSettings', () => {
  it('defaults to `lip train --recipe fast` in runs/demo', () => {
    const s = demoSettings({});
    expect(s.schedule).toEqual(DEMO_SCHEDULE);
    expect(s.schedule).toEqual(recipeSettings('fast'));
    expect(s).toMatchObject({ limit: undefined, seed: DEFAULT_SEED, cwSteps: DEFAULT_CW_STEPS, cwBinarySteps: DEFAULT_CW_BINARY_SEARCH_STEPS });
    expect(s.out).toBe(DEFAULT_DEMO_OUT);
    expect(s.paths).toEqual(demoPaths(DEFAULT_DEMO_OUT));
  });

  it('takes the reference schedule and its own folder with --full; explicit flags win', () => {
    const s = demoSettings({ full: true, epochs: '3', lrSchedule: 'linear', limit: '500', seed: '7', workers: '2', data: 'fm' });
    expect(s.schedule).toEqual({ ...REFERENCE_SCHEDULE, epochs: 3, lrSchedule: 'linear' });
    expect(REFERENCE_SCHEDULE).toEqual(recipeSettings('reference'));
    expect(demoSettings({ full: true, arch: 'ortho' }).schedule).toEqual({ ...REFERENCE_SCHEDULE, arch: 'ortho' });
    expect(demoSettings({ arch: 'ortho' }).schedule).toEqual({ ...DEMO_SCHEDULE, arch: 'ortho' });
    expect(s).toMatchObject({ limit: 500, seed: 7, workers: 2, dataDir: 'fm', out: DEFAULT_DEMO_FULL_OUT });
    expect(demoSettings({ full: true, out: 'mine' }).paths.onnx).toBe(path.join('mine', 'model.onnx'));
  });

  it.each([
    [{ epochs: '0' }, '--epochs'],
    [{ lr: '-1' }, '--lr'],
    [{ cwSteps: 'x' }, '--cw-steps'],
    [{ limit: '1.5' }, '--limit'],
  ])('refuses %p naming %s', (flags, flag) => {
    expect(() => demoSettings(flags)).toThrow(InvalidArgumentError);
    expect(() => demoSettings(flags)).toThrow(`'${flag}'`);
  });
});

describe('lossDescription', () => {
  it('names the loss and its parameters for the step header', () => {
    expect(lossDescription(REFERENCE_SCHEDULE)).toBe('HKR multiclass (alpha 100, min_margin 0.25)');
    expect(lossDescription({ ...DEMO_SCHEDULE, loss: 'tau_cce', tau: 5 })).toBe('tau-CCE (tau 5)');
    expect(lossDescription({ ...DEMO_SCHEDULE, loss: 'kr' })).toBe('the kr loss');
  });
});

describe('onePerClassImages', () => {
  it('copies the first image of each class, in class order', () => {
    const [channels, height, width] = [1, 2, 3];
    const d = channels * height * width;
    // Image i holds i + j/10 at pixel j; classes 9..0 first, then two repeats that must not be picked.
    const labels = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 9];
    const images = Float32Array.from({ length: labels.length * d }, (_, k) => Math.floor(k / d) + (k % d) / 10);
    const picked = onePerClassImages({ images, labels: Uint8Array.from(labels), channels, height, width, classNames: ['a'] });
    expect(picked.indices).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(picked.labels).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(picked.chw).toEqual([1, 2, 3]);
    expect(picked.images).toHaveLength(10 * d);
    picked.indices.forEach((idx, i) =>
      expect(Array.from(picked.images.subarray(i * d, (i + 1) * d))).toEqual(Array.from(images.subarray(idx * d, (idx + 1) * d))),
    );
    expect(picked.classNames).toEqual(['a']);
  });
});

import { InvalidArgumentError } from '../errors';
import { ARCHITECTURES } from '../models';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  DEFAULT_TRAIN_BATCH_SIZE,
  learningRateAt,
  LrSchedule,
  recipeSettings,
  resolveTrainConfig,
  resumeTrainConfig,
  TRAIN_RECIPES,
  TrainConfig,
} from './config';

describe('train config', () => {
  it('fills the defaults and keeps what is given', () => {
    const c = resolveTrainConfig({ outDir: 'o', lr: 0.01, limit: undefined });
    expect(c).toMatchObject({ arch: 'seed', loss: 'hkr', alpha: 100, minMargin: 0.25, lr: 0.01, batchSize: DEFAULT_TRAIN_BATCH_SIZE, valSplit: 'test' });
    expect(c.lrSchedule).toBe('constant');
    expect(resolveTrainConfig({ outDir: 'o', lrSchedule: 'cosine' }).lrSchedule).toBe('cosine');
    expect('limit' in c).toBe(false); // train.json stays free of undefined keys
    expect('resume' in resolveTrainConfig({ outDir: 'o', resume: false })).toBe(false);
  });

  it.each([
    [{ arch: 'resnet' }, `'arch' must be one of ${[...ARCHITECTURES.keys()].join(', ')}, got "resnet"`],
    [{ epochs: 0 }, `'epochs' must be a positive integer, got 0`],
    [{ batchSize: 1.5 }, `'batchSize' must be a positive integer, got 1.5`],
    [{ lr: -1 }, `'lr' must be a positive finite number, got -1`],
    [{ lr: NaN }, `'lr' must be a positive finite number, got NaN`],
    [{ seed: 2 ** 32 }, `'seed' must be an integer in [0, 4294967295], got 4294967296`],
    [{ limit: 0 }, `'limit' must be a positive integer, got 0`],
    [{ lrSchedule: 'exponential' as LrSchedule }, `'lrSchedule' must be one of constant, linear, cosine, got "exponential"`],
    [{ lrSchedule: null as unknown as LrSchedule }, `'lrSchedule' must be one of constant, linear, cosine, got null`],
  ])('rejects %j', (bad, message) => {
    expect(() => resolveTrainConfig({ outDir: 'o', ...bad })).toThrow(InvalidArgumentError);
    expect(() => resolveTrainConfig({ outDir: 'o', ...bad })).toThrow(message);
  });

  it('resumes with the stored run settings and this session target and paths', () => {
    const stored = resolveTrainConfig({ outDir: 'old', lr: 0.003, seed: 7, epochs: 1, backend: 'cpu', dataDir: '/d' });
    const c = resumeTrainConfig(stored, { outDir: 'new', epochs: 3, lr: 0.003 });
    expect(c).toEqual({ ...stored, outDir: 'new', epochs: 3, backend: undefined, dataDir: undefined });
    expect('backend' in c).toBe(false);
    expect(() => resumeTrainConfig(stored, { outDir: 'new', seed: 8 })).toThrow(
      `'seed' is 8 but the checkpoint in new was trained with 7; a resumed run keeps its settings`,
    );
  });

  it('keeps the learning-rate schedule on resume; a checkpoint without one is constant', () => {
    const stored = resolveTrainConfig({ outDir: 'old', lrSchedule: 'linear', epochs: 2 });
    expect(resumeTrainConfig(stored, { outDir: 'old', epochs: 4 })).toMatchObject({ lrSchedule: 'linear', epochs: 4 });
    expect(resumeTrainConfig(stored, { outDir: 'old', lrSchedule: 'linear' }).lrSchedule).toBe('linear');
    expect(() => resumeTrainConfig(stored, { outDir: 'old', lrSchedule: 'cosine' })).toThrow(InvalidArgumentError);
    expect(() => resumeTrainConfig(stored, { outDir: 'old', lrSchedule: 'cosine' })).toThrow(
      `'lrSchedule' is "cosine" but the checkpoint in old was trained with "linear"; a resumed run keeps its settings`,
    );
    // train.json written before schedules existed: no key, the run was constant.
    const { lrSchedule: _dropped, ...legacy } = resolveTrainConfig({ outDir: 'old' });
    const resumed = resumeTrainConfig(legacy as TrainConfig, { outDir: 'old', lrSchedule: 'constant' });
    expect(resumed.lrSchedule).toBe('constant');
    expect(() => resumeTrainConfig(legacy as TrainConfig, { outDir: 'old', lrSchedule: 'linear' })).toThrow(
      `'lrSchedule' is "linear" but the checkpoint in old was trained with "constant"`,
    );
  });
});

describe('train recipes', () => {
  it('fill the settings not given; the ones given win, and the recipe name is not stored', () => {
    const fast = recipeSettings('fast');
    const c = resolveTrainConfig({ outDir: 'o', recipe: 'fast' });
    expect(c).toMatchObject(fast);
    expect('recipe' in c).toBe(false);
    const mine = resolveTrainConfig({ outDir: 'o', recipe: 'fast', epochs: fast.epochs + 3, lr: undefined, seed: 9 });
    expect(mine).toEqual({ ...c, epochs: fast.epochs + 3, seed: 9 });
    expect(resolveTrainConfig({ outDir: 'o', recipe: 'reference' })).toMatchObject({ arch: 'seed', epochs: 100, batchSize: 4096, lr: 1e-4 });
  });

  it('every recipe is a valid run, and recipeSettings returns a copy', () => {
    for (const name of TRAIN_RECIPES.keys()) expect(() => resolveTrainConfig({ outDir: 'o', recipe: name })).not.toThrow();
    recipeSettings('fast').epochs = 1;
    expect(recipeSettings('fast').epochs).toBe(TRAIN_RECIPES.get('fast')!.settings.epochs);
  });

  it('an unknown recipe names the recipes', () => {
    expect(() => resolveTrainConfig({ outDir: 'o', recipe: 'quick' })).toThrow(InvalidArgumentError);
    expect(() => resolveTrainConfig({ outDir: 'o', recipe: 'quick' })).toThrow(`'recipe' must be one of fast, reference, got "quick"`);
  });

  it('a model passed in replaces the recipe architecture', () => {
    const model = {} as LayersModel; // resolveTrainConfig only notes that there is one
    expect(resolveTrainConfig({ outDir: 'o', recipe: 'fast', model })).toMatchObject({ arch: 'custom', lr: recipeSettings('fast').lr });
  });

  it('on resume, the recipe must match the checkpoint and a mismatch names the recipe', () => {
    const stored = resolveTrainConfig({ outDir: 'old', recipe: 'fast', epochs: 2 });
    expect(resumeTrainConfig(stored, { outDir: 'old', recipe: 'fast' }).epochs).toBe(recipeSettings('fast').epochs);
    const { batchSize } = recipeSettings('reference');
    expect(() => resumeTrainConfig(stored, { outDir: 'old', recipe: 'reference', arch: stored.arch })).toThrow(
      `'batchSize' is ${batchSize} (from recipe "reference") but the checkpoint in old was trained with ${stored.batchSize}; a resumed run keeps its settings`,
    );
  });

  it("a loss other than the recipe's drops the recipe's loss parameters", () => {
    const fast = recipeSettings('fast');
    expect(fast.loss).toBe('tau_cce');
    expect(resolveTrainConfig({ outDir: 'o', recipe: 'fast' }).tau).toBe(fast.tau);
    const hkr = resolveTrainConfig({ outDir: 'o', recipe: 'fast', loss: 'hkr' });
    expect(hkr).toMatchObject({ loss: 'hkr', alpha: 100, minMargin: 0.25, lr: fast.lr, epochs: fast.epochs });
    expect('tau' in hkr).toBe(false);
    expect(resolveTrainConfig({ outDir: 'o', recipe: 'fast', loss: 'tau_cce', tau: 2 }).tau).toBe(2);
  });
});

describe('learningRateAt', () => {
  const lr = 2e-3;
  const T = 100;

  it('constant: lr at every step', () => {
    for (const s of [1, 50, 100, 150]) expect(learningRateAt('constant', lr, s, T)).toBe(lr);
  });

  it('linear: lr * max(0.02, 1 - step/T), 2% from step 98 to the last', () => {
    expect(learningRateAt('linear', lr, 1, T)).toBeCloseTo(lr * 0.99, 15);
    expect(learningRateAt('linear', lr, 50, T)).toBeCloseTo(lr * 0.5, 15);
    expect(learningRateAt('linear', lr, 75, T)).toBeCloseTo(lr * 0.25, 15);
    expect(learningRateAt('linear', lr, 98, T)).toBeCloseTo(lr * 0.02, 15);
    expect(learningRateAt('linear', lr, 99, T)).toBe(lr * 0.02);
    expect(learningRateAt('linear', lr, T, T)).toBe(lr * 0.02);
    expect(learningRateAt('linear', lr, 8, 8)).toBe(lr * 0.02);
    expect(learningRateAt('linear', lr, 4, 8)).toBe(lr * 0.5);
  });

  it('cosine: lr * (0.02 + 0.98 * (1 + cos(pi step/T)) / 2), 2% at the last step', () => {
    expect(learningRateAt('cosine', lr, 1, T)).toBeCloseTo(lr * (0.02 + 0.49 * (1 + Math.cos(Math.PI / 100))), 15);
    expect(learningRateAt('cosine', lr, 25, T)).toBeCloseTo(lr * (0.02 + 0.49 * (1 + Math.SQRT1_2)), 15);
    expect(learningRateAt('cosine', lr, 50, T)).toBeCloseTo(lr * 0.51, 15);
    expect(learningRateAt('cosine', lr, T, T)).toBeCloseTo(lr * 0.02, 15);
  });

  it.each<LrSchedule>(['linear', 'cosine'])('%s: non-increasing, in [0.02 lr, lr], the last rate past the end', (schedule) => {
    let previous = Infinity;
    for (let s = 1; s <= T; s++) {
      const r = learningRateAt(schedule, lr, s, T);
      expect(r).toBeLessThanOrEqual(previous);
      expect(r).toBeLessThanOrEqual(lr);
      expect(r).toBeGreaterThanOrEqual(lr * 0.02 * (1 - 1e-12));
      previous = r;
    }
    expect(learningRateAt(schedule, lr, T + 7, T)).toBe(learningRateAt(schedule, lr, T, T));
  });

  it('rejects a bad step, step count or schedule', () => {
    expect(() => learningRateAt('linear', lr, 0, T)).toThrow(`'step' must be a positive integer, got 0`);
    expect(() => learningRateAt('linear', lr, 1.5, T)).toThrow(InvalidArgumentError);
    expect(() => learningRateAt('linear', lr, 1, 0)).toThrow(`'totalSteps' must be a positive integer, got 0`);
    expect(() => learningRateAt('step' as LrSchedule, lr, 1, T)).toThrow(`'lrSchedule' must be one of constant, linear, cosine, got "step"`);
  });
});

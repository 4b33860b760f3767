import { InvalidArgumentError } from '../errors';
import { DEFAULT_BATCH_SIZE, resolveTrainConfig, resumeTrainConfig } from './config';

describe('train config', () => {
  it('fills the defaults and keeps what is given', () => {
    const c = resolveTrainConfig({ outDir: 'o', lr: 0.01, limit: undefined });
    expect(c).toMatchObject({ arch: 'seed', loss: 'hkr', alpha: 100, minMargin: 0.25, lr: 0.01, batchSize: DEFAULT_BATCH_SIZE, valSplit: 'test' });
    expect('limit' in c).toBe(false); // train.json stays free of undefined keys
    expect('resume' in resolveTrainConfig({ outDir: 'o', resume: false })).toBe(false);
  });

  it.each([
    [{ arch: 'resnet' }, `'arch' must be one of seed, got "resnet"`],
    [{ epochs: 0 }, `'epochs' must be a positive integer, got 0`],
    [{ batchSize: 1.5 }, `'batchSize' must be a positive integer, got 1.5`],
    [{ lr: -1 }, `'lr' must be a positive finite number, got -1`],
    [{ lr: NaN }, `'lr' must be a positive finite number, got NaN`],
    [{ seed: 2 ** 32 }, `'seed' must be an integer in [0, 4294967295], got 4294967296`],
    [{ limit: 0 }, `'limit' must be a positive integer, got 0`],
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
});

/**
 * A loss with state in `train()`: soft_hkr's moving mean of |logits| follows
 * the steps alike with and without workers, is saved with every epoch, and
 * `resume` continues from it bit for bit. (Workers run dist/: build first,
 * `npx tsc -b`.)
 */
import { tmpDirPerSuite } from '@lip/test-support';
import { FASHION_DIR } from '@lip/test-support/data';
import { weightsOf } from '@lip/test-support/tf';
import { EpochRecord, readTrainState } from './checkpoint';
import { TrainOptions } from './config';
import { train } from './train';

/** 4 steps of 64 images an epoch; temperature 2 so that the softmax weights matter. */
const BASE = {
  arch: 'seed',
  dataDir: FASHION_DIR,
  backend: 'wasm' as const,
  lr: 3e-3,
  seed: 5,
  limit: 256,
  batchSize: 64,
  loss: 'soft_hkr',
  temperature: 2,
};

const tmp = tmpDirPerSuite('loss-state');

async function run(options: Partial<TrainOptions> & { outDir: string }): Promise<{ epochs: EpochRecord[]; weights: Float32Array[] }> {
  const result = await train({ ...BASE, ...options });
  const weights = weightsOf(result.model);
  result.model.dispose();
  return { epochs: result.trainState.epochs, weights };
}

const withoutTime = (epochs: EpochRecord[]): Omit<EpochRecord, 'seconds'>[] => epochs.map(({ seconds: _s, ...rest }) => rest);

describe('soft_hkr trained with train() (seed network, 2 epochs of 256 images)', () => {
  let straight: { epochs: EpochRecord[]; weights: Float32Array[] };
  beforeAll(async () => {
    straight = await run({ epochs: 2, workers: 1, outDir: tmp.path('straight') });
  });

  it("stores the loss's parameters with their defaults, and its moving mean after each epoch", () => {
    const config = readTrainState(tmp.path('straight')).config;
    expect(config).toMatchObject({ loss: 'soft_hkr', alpha: 0.9, minMargin: 1, alphaMean: 0.99, temperature: 2 });
    expect(config.penalty).toBeUndefined();
    const means = straight.epochs.map((e) => e.lossState?.runningMean as number);
    // From minMargin = 1, moved by 4 then 8 steps of 1% each towards the logits' mean |f|.
    expect(means.every((m) => Number.isFinite(m) && m > 0)).toBe(true);
    expect(means[0]).not.toBe(1);
    expect(means[1]).not.toBe(means[0]);
    expect(Math.abs(means[0] - 1)).toBeLessThan(1 - 0.99 ** 4);
  });

  it('2 workers follow 1 worker, moving mean included', async () => {
    const two = await run({ epochs: 2, workers: 2, outDir: tmp.path('two') });
    two.epochs.forEach((e, i) => {
      const one = straight.epochs[i];
      const mean = e.lossState?.runningMean as number;
      const oneMean = one.lossState?.runningMean as number;
      expect(Math.abs(mean - oneMean)).toBeLessThan(1e-5 * oneMean);
      expect(Math.abs(e.loss - one.loss)).toBeLessThan(1e-4 * Math.abs(one.loss));
      expect(Math.abs((e.val_loss as number) - (one.val_loss as number))).toBeLessThan(1e-4 * Math.abs(one.val_loss as number));
    });
  });

  it('epoch 1, then resume to 2, equals 2 epochs straight, bit for bit', async () => {
    const dir = tmp.path('resumed');
    await run({ epochs: 1, workers: 1, outDir: dir });
    const resumed = await train({ outDir: dir, epochs: 2, resume: true, dataDir: FASHION_DIR, backend: 'wasm', workers: 1 });
    const weights = weightsOf(resumed.model);
    resumed.model.dispose();
    expect(withoutTime(resumed.trainState.epochs)).toEqual(withoutTime(straight.epochs));
    expect(weights).toEqual(straight.weights);
  });

  it('rejects an option the loss does not have, and a bad value, before anything is written', async () => {
    await expect(run({ epochs: 1, offset: 0.5, outDir: tmp.path('bad-offset') })).rejects.toThrow(
      "'offset' is not a parameter of loss 'soft_hkr' (its parameters: alpha, minMargin, alphaMean, temperature)",
    );
    await expect(run({ epochs: 1, alpha: 100, outDir: tmp.path('bad-alpha') })).rejects.toThrow("loss 'soft_hkr': 'alpha' must be a number in [0, 1], got 100");
    expect(() => readTrainState(tmp.path('bad-alpha'))).toThrow(/holds no checkpoint/);
  });
});

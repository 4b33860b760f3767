/**
 * `train()` as a library: your own data (tensors, typed arrays, a tf.data
 * dataset) and model, the deel-lip callbacks, and a diverged run that stops
 * with a clear error and keeps its last good checkpoint. Tiny data (8×8
 * images, 3 classes) and a tiny model, so each run takes seconds. (The
 * 2-worker case runs dist/: build first, `npx tsc -b`.)
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { tmpDirPerSuite } from '@lip/test-support';
import { TINY_CLASSES, TINY_SHAPE, tinyData, tinyModel, tinyTensors } from '@lip/test-support/models';
import { CondenseCallback } from '../callbacks/condense';
import { LossParamScheduler } from '../callbacks/loss_param_scheduler';
import { MonitorCallback } from '../callbacks/monitor';
import { NonFiniteLossError } from '../callbacks/non_finite_loss';
import { singularValues } from '../callbacks/singular_values';
import { selectBackend } from '../backend';
import { InvalidArgumentError } from '../errors';
import { GroupSort2, LipschitzSequential, SpectralDense } from '../layers';
import { LipLoss } from '../losses';
import { loadCheckpoint, readTrainState } from './checkpoint';
import { TrainOptions } from './config';
import { train, TrainResult } from './train';

const tmp = tmpDirPerSuite('train-lib');
beforeAll(async () => {
  // The models are built before train() picks its backend (as a caller building its own model does).
  await selectBackend('cpu');
});
const out = (name: string): string => tmp.path(name);

/** 96 training and 30 validation images; batch 32 (3 steps per epoch), one thread, the cpu backend. */
const BASE = { batchSize: 32, lr: 1e-2, alpha: 10, minMargin: 0.2, seed: 3, epochs: 2, backend: 'cpu' as const, workers: 1 };
const TRAIN = tinyData(96, 1);
const VALIDATION = tinyData(30, 2);
const arrays = (): TrainOptions['data'] => ({
  train: { x: TRAIN.images, y: TRAIN.labels, inputShape: TINY_SHAPE },
  validation: { x: VALIDATION.images, y: VALIDATION.labels, inputShape: TINY_SHAPE },
});

async function run(options: Omit<TrainOptions, 'outDir'>, name: string): Promise<{ result: TrainResult; weights: Float32Array[] }> {
  const result = await train({ ...BASE, model: tinyModel(5), ...options, outDir: out(name) });
  const weights = result.model.getWeights().map((w) => w.dataSync() as Float32Array);
  result.model.dispose();
  return { result, weights };
}

describe('your own data and model', () => {
  let fromArrays: { result: TrainResult; weights: Float32Array[] };
  beforeAll(async () => {
    fromArrays = await run({ data: arrays() }, 'arrays');
  });

  test('typed arrays: a 1-Lipschitz model, the run recorded as dataset memory and arch custom', () => {
    const { config, epochs } = fromArrays.result.trainState;
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(epochs[1]!.val_acc).toBeGreaterThan(1 / TINY_CLASSES);
    expect(config).toMatchObject({ dataset: 'memory', arch: 'custom', classNames: ['0', '1', '2'] });
    const json = JSON.parse(fs.readFileSync(path.join(out('arrays'), 'train.json'), 'utf8'));
    expect(Object.keys(json.config)).not.toContain('data');
    expect(Object.keys(json.config)).not.toContain('model');
  });

  test('tensors and a tf.data dataset give the same run, bit for bit', async () => {
    const t = tinyTensors(96, 1);
    const v = tinyTensors(30, 2);
    const fromTensors = await run({ data: { train: t, validation: v } }, 'tensors');
    expect(fromTensors.weights).toEqual(fromArrays.weights);
    // Batches of 10 {xs, ys}, as model.fitDataset takes them.
    const batches = (x: tf.Tensor, y: tf.Tensor) => ({
      iterator: async () => {
        let start = 0;
        return {
          next: async () => {
            if (start >= x.shape[0]!) return { value: undefined, done: true as const };
            const size = Math.min(10, x.shape[0]! - start);
            const value = { xs: tf.slice(x, start, size), ys: tf.slice(y, start, size) };
            start += size;
            return { value, done: false as const };
          },
        };
      },
    });
    const fromDataset = await run({ data: { train: batches(t.x, t.y), validation: batches(v.x, v.y) } }, 'dataset');
    expect(fromDataset.weights).toEqual(fromArrays.weights);
    tf.dispose([t.x, t.y, v.x, v.y]);
  });

  test('resuming a run on data in memory needs the data again, and continues exactly', async () => {
    const signal = { aborted: false };
    await train({ ...BASE, model: tinyModel(5), data: arrays(), outDir: out('resumed') }, { signal, onEpochEnd: () => (signal.aborted = true) });
    await expect(train({ outDir: out('resumed'), resume: true, epochs: 2, backend: 'cpu', workers: 1 })).rejects.toThrow(
      "'data' is required: this run trains on data passed in memory ({ train, validation? }); pass it again to resume",
    );
    const resumed = await train({ outDir: out('resumed'), resume: true, epochs: 2, data: arrays(), backend: 'cpu', workers: 1 });
    expect(resumed.model.getWeights().map((w) => w.dataSync())).toEqual(fromArrays.weights);
    resumed.model.dispose();
  });

  test('a tf.Sequential of Lipschitz layers is accepted; a plain layer or a wrong shape is refused', async () => {
    const plain = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: TINY_SHAPE }),
        new SpectralDense({ units: 8, seed: 1 }),
        new GroupSort2(),
        new SpectralDense({ units: 3, seed: 2 }),
      ],
    });
    const { result } = await run({ model: plain, data: arrays(), epochs: 1 }, 'sequential');
    const { model } = await loadCheckpoint(out('sequential'));
    expect(model).toBeInstanceOf(LipschitzSequential);
    expect(model.layers.map((l) => l.getClassName())).toEqual(['Flatten', 'Lip>SpectralDense', 'Lip>GroupSort2', 'Lip>SpectralDense']);
    expect(result.trainState.epochs).toHaveLength(1);
    model.dispose();

    const dense = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: TINY_SHAPE }), tfl.layers.dense({ units: 3 })] });
    await expect(run({ model: dense, data: arrays() }, 'plain-dense')).rejects.toThrow(
      /'model' holds layer 'dense_\w+' \(Dense\), which is not a Lipschitz layer/,
    );
    const wide = new LipschitzSequential({
      layers: [tfl.layers.flatten({ inputShape: [9, 9, 1] }), new SpectralDense({ units: 3 })],
      logger: { warn: () => undefined },
    });
    await expect(run({ model: wide, data: arrays() }, 'wide')).rejects.toThrow(
      "'model' takes inputs of shape [9, 9, 1] but the data holds images of shape [8, 8, 1]",
    );
    const four = new LipschitzSequential({
      layers: [tfl.layers.flatten({ inputShape: TINY_SHAPE }), new SpectralDense({ units: 4 })],
      logger: { warn: () => undefined },
    });
    await expect(run({ model: four, data: arrays() }, 'four')).rejects.toThrow("'model' outputs [4] per image but the data has 3 classes");
    await expect(run({ arch: 'seed', data: arrays() }, 'both')).rejects.toThrow(InvalidArgumentError);
    await expect(run({ data: { train: { x: TRAIN.images, y: TRAIN.labels } } as never }, 'flat')).rejects.toThrow(
      "'data.train.x' is a flat array: pass 'inputShape' [H, W, C] to say how each sample is laid out",
    );
  });

  test('without validation data: no val_* metrics', async () => {
    const { result } = await run({ data: { train: arrays()!.train }, epochs: 1 }, 'no-validation');
    expect(Object.keys(result.trainState.epochs[0]!).sort()).toEqual(['acc', 'epoch', 'kr', 'loss', 'lr', 'seconds']);
  });
});

describe('callbacks in train()', () => {
  test('MonitorCallback, CondenseCallback and a CustomCallback run as in fit; the condensed weights are in the checkpoint', async () => {
    const lines: string[] = [];
    const monitor = new MonitorCallback({ log: (l) => lines.push(l) });
    const calls: string[] = [];
    const custom = {
      onTrainBegin: async () => void calls.push('trainBegin'),
      onEpochBegin: async (e: number) => void calls.push(`epochBegin ${e}`),
      onBatchEnd: async (b: number, logs?: tfl.Logs) => void calls.push(`batchEnd ${b} ${Number.isFinite(logs!['loss']!)}`),
      onEpochEnd: async (e: number, logs?: tfl.Logs) => void calls.push(`epochEnd ${e} ${Object.keys(logs!).join(',')}`),
      onTrainEnd: async () => void calls.push('trainEnd'),
    };
    const { weights } = await run({ data: arrays(), callbacks: [monitor, new CondenseCallback(), new tfl.CustomCallback(custom)] }, 'callbacks');
    expect(calls).toEqual([
      'trainBegin',
      'epochBegin 0',
      'batchEnd 0 true',
      'batchEnd 1 true',
      'batchEnd 2 true',
      'epochEnd 0 loss,acc,kr,val_loss,val_acc,val_kr',
      'epochBegin 1',
      'batchEnd 0 true',
      'batchEnd 1 true',
      'batchEnd 2 true',
      'epochEnd 1 loss,acc,kr,val_loss,val_acc,val_kr',
      'trainEnd',
    ]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^epoch 1 \(wbar\): spectral_conv2d_\d+ σmax 0\.3333 bound 0\.\d{4} \| spectral_dense_\d+ σmax 1\.0000 bound 1\.0000/);
    for (const layer of monitor.history[1]!.layers) expect(layer.bound).toBeLessThanOrEqual(1 + 1e-4);
    // Condensed before the checkpoint: its raw dense kernel is orthonormal, and it is the returned model's.
    const { model } = await loadCheckpoint(out('callbacks'));
    const kernel = (model.lipschitzLinearLayers()[1] as unknown as { rawKernel: tf.Tensor }).rawKernel;
    for (const s of singularValues(kernel.dataSync(), kernel.shape[0]!, kernel.shape[1]!)) expect(s).toBeCloseTo(1, 3);
    expect(model.getWeights().map((w) => w.dataSync())).toEqual(weights);
    model.dispose();
  });

  test('LossParamScheduler: alpha follows the global step, also after --resume, and reaches the workers', async () => {
    const alphas: number[] = [];
    const schedule = (): LossParamScheduler => new LossParamScheduler({ param: 'alpha', xp: [0, 5], fp: [1, 11] });
    const recorder = new (class extends tfl.Callback {
      override async onBatchBegin(): Promise<void> {
        alphas.push((this.model.loss as unknown as LipLoss).alpha!);
      }
    })();
    const one = await run({ data: arrays(), callbacks: [schedule(), recorder] }, 'schedule-1');
    expect(alphas).toEqual([1, 3, 5, 7, 9, 11]);
    // Stopped after epoch 1, resumed: the same values, and the same weights.
    alphas.length = 0;
    const signal = { aborted: false };
    await train(
      { ...BASE, model: tinyModel(5), data: arrays(), callbacks: [schedule(), recorder], outDir: out('schedule-r') },
      { signal, onEpochEnd: () => (signal.aborted = true) },
    );
    const resumed = await train({
      outDir: out('schedule-r'),
      resume: true,
      epochs: 2,
      data: arrays(),
      callbacks: [schedule(), recorder],
      backend: 'cpu',
      workers: 1,
    });
    expect(alphas).toEqual([1, 3, 5, 7, 9, 11]);
    expect(resumed.model.getWeights().map((w) => w.dataSync())).toEqual(one.weights);
    resumed.model.dispose();
    // Two workers rebuild their loss with each new alpha: the same run up to float noise
    // (with the first alpha kept, the loss would differ 11-fold by the last step).
    const two = await run({ data: arrays(), workers: 2, callbacks: [schedule()] }, 'schedule-2');
    const r1 = one.result.trainState.epochs;
    const r2 = two.result.trainState.epochs;
    r2.forEach((e, i) => {
      expect(e.loss).toBeCloseTo(r1[i]!.loss, 3);
      expect(e.val_loss!).toBeCloseTo(r1[i]!.val_loss!, 3);
    });
  });

  test('tfjs EarlyStopping ends the run after the epoch that asked, checkpoint written', async () => {
    const stop = new (class extends tfl.Callback {
      override async onEpochEnd(epoch: number): Promise<void> {
        if (epoch === 0) this.model.stopTraining = true;
      }
    })();
    const { result } = await run({ data: arrays(), epochs: 3, callbacks: [stop] }, 'early');
    expect(result.interrupted).toBe(false);
    expect(readTrainState(out('early')).epochs.map((e) => e.epoch)).toEqual([1]);
  });
});

describe('a diverged run', () => {
  test('a NaN loss stops train() naming the epoch, the batch and the learning rate; the checkpoint keeps epoch 1', async () => {
    const poison = new (class extends tfl.Callback {
      private epoch = 0;
      override async onEpochBegin(epoch: number): Promise<void> {
        this.epoch = epoch;
      }
      override async onBatchEnd(batch: number): Promise<void> {
        // As a too-large step would: a kernel full of NaN after epoch 2's second step.
        const kernel = this.model.trainableWeights[0]!;
        if (this.epoch === 1 && batch === 1) tf.tidy(() => kernel.write(tf.fill(kernel.shape as number[], Number.NaN)));
      }
    })();
    const dir = out('diverged');
    const err = await train({ ...BASE, model: tinyModel(5), data: arrays(), epochs: 3, callbacks: [poison], outDir: dir }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect((err as Error).message).toBe(
      `the loss is NaN at epoch 2, batch 3 of 3: training diverged; lower the learning rate (now 0.01, try 0.005 or less) and train again; the checkpoint in ${dir} still holds epoch 1`,
    );
    expect([(err as NonFiniteLossError).epoch, (err as NonFiniteLossError).batch]).toEqual([2, 3]);
    const state = readTrainState(dir);
    expect(state.epochs.map((e) => e.epoch)).toEqual([1]);
    const { model } = await loadCheckpoint(dir);
    for (const w of model.getWeights()) expect(Array.from(w.dataSync()).every(Number.isFinite)).toBe(true);
    model.dispose();
    expect(fs.existsSync(path.join(dir, '.next'))).toBe(false);
  });

  test('a weight that turns NaN at the last step is caught before the checkpoint', async () => {
    const poison = new (class extends tfl.Callback {
      override async onEpochEnd(): Promise<void> {
        const bias = this.model.trainableWeights[1]!;
        tf.tidy(() => bias.write(tf.fill(bias.shape as number[], Number.POSITIVE_INFINITY)));
      }
    })();
    const dir = out('diverged-weight');
    await expect(train({ ...BASE, model: tinyModel(5), data: arrays(), epochs: 1, callbacks: [poison], outDir: dir })).rejects.toThrow(
      new RegExp(`^weight '.*bias' is infinite after epoch 1: training diverged; lower the learning rate .* no checkpoint was written to ${dir}$`),
    );
    expect(fs.existsSync(path.join(dir, 'train.json'))).toBe(false);
  });
});

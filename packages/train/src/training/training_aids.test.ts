import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { LayersModel } from '@tensorflow/tfjs-layers';
import { tmpDirPerSuite } from '@lip/test-support';
import { FASHION_DIR } from '@lip/test-support/data';
import { weightsOf } from '@lip/test-support/tf';
import { selectBackend } from '../backend';
import { FrobeniusDense, LipschitzSequential } from '../layers';
import { Dataset, mulberry32, randomPermutation, sliceBatch } from '../data';
import { AugmentSpec, augmentRows } from '../data/augment';
import { datasetProvider } from '../data/node';
import { buildModel } from '../models';
import { EpochRecord, loadCheckpoint, loadTrainingWeights, TRAINING_WEIGHTS_BIN_FILE } from './checkpoint';
import { WeightAverage, weightValues } from './ema';
import { train } from './train';
import { WorkerPool } from './worker_pool';

/** Real Fashion-MNIST, the reference network on wasm, 8 steps per epoch, with every training aid. */
const AIDS = {
  arch: 'seed',
  dataDir: FASHION_DIR,
  backend: 'wasm' as const,
  lr: 3e-3,
  seed: 11,
  limit: 512,
  batchSize: 64,
  // constant: a 1-epoch run then --resume to 2 takes the rates of a 2-epoch run
  lrSchedule: 'constant' as const,
  workers: 1,
  augment: 'shift-flip' as const,
  ema: 0.9,
};

const tmp = tmpDirPerSuite('training-aids');
const metrics = (epochs: EpochRecord[]): Omit<EpochRecord, 'seconds'>[] => epochs.map(({ seconds: _s, ...rest }) => rest);

/** Largest singular value of the linear map `apply` on inputs of `shape`, by power iteration on its Gram operator (grad of ½||A x||²). */
function largestSingularValue(apply: (x: tf.Tensor) => tf.Tensor, shape: number[], iterations = 100): number {
  const gram = tf.grad((x: tf.Tensor) => tf.mul(0.5, tf.sum(tf.square(apply(x)))));
  let v = tf.randomNormal(shape, 0, 1, 'float32', 7);
  let sigma = 0;
  for (let i = 0; i < iterations; i++) {
    const next = tf.tidy(() => {
      const u = tf.div(v, tf.norm(v));
      return { u, g: gram(u) };
    });
    sigma = Math.sqrt(tf.tidy(() => tf.sum(tf.mul(next.u, next.g))).dataSync()[0]!);
    v.dispose();
    v = next.g;
    next.u.dispose();
  }
  v.dispose();
  return sigma;
}

/** The largest singular value of every dense and conv layer of the plain twin (converged weights, bias excluded). */
function layerNorms(model: LipschitzSequential): number[] {
  const twin = model.vanillaExport({ converge: true }) as LayersModel;
  const norms: number[] = [];
  try {
    for (const layer of twin.layers) {
      const cls = layer.getClassName();
      if (cls !== 'Dense' && cls !== 'Conv2D') continue;
      const kernel = layer.getWeights()[0]!;
      const inShape = (layer.batchInputShape ?? (layer.input as { shape: number[] }).shape).slice(1) as number[];
      const conv = layer as unknown as { getConfig(): { strides: [number, number]; padding: 'same' | 'valid' } };
      const apply =
        cls === 'Dense'
          ? (x: tf.Tensor) => tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D)
          : (x: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, conv.getConfig().strides, conv.getConfig().padding);
      norms.push(largestSingularValue(apply, [1, ...inShape]));
    }
  } finally {
    twin.dispose();
  }
  return norms;
}

describe('training aids: augmentation + EMA of the weights (seed network, wasm)', () => {
  let straight: { weights: Float32Array[]; epochs: EpochRecord[] };
  const straightDir = tmp.path('straight');

  beforeAll(async () => {
    const result = await train({ ...AIDS, epochs: 2, outDir: straightDir });
    straight = { weights: weightsOf(result.model), epochs: result.trainState.epochs };
    result.model.dispose();
  }, 300_000);

  it('stores the averages as the model and the raw weights beside them; the run returns the averaged model', async () => {
    const { model, trainState } = await loadCheckpoint(straightDir);
    try {
      expect(trainState.config).toMatchObject({ augment: 'shift-flip', ema: 0.9 });
      expect(weightsOf(model)).toEqual(straight.weights);
      const raw = loadTrainingWeights(straightDir, model);
      const trainableIndex = model.weights.map((w) => w.trainable);
      const averaged = weightValues(model);
      // Trainable weights differ (an average is not the last iterate); the shapes match.
      expect(raw.map((r) => r.length)).toEqual(averaged.map((a) => a.length));
      expect(raw.some((r, i) => trainableIndex[i] && !r.every((v, e) => v === averaged[i]![e]))).toBe(true);
      expect(fs.existsSync(path.join(straightDir, TRAINING_WEIGHTS_BIN_FILE))).toBe(true);
    } finally {
      model.dispose();
    }
  });

  it('epoch 1 of 2, then --resume to 2, equals 2 epochs straight, bit for bit', async () => {
    const dir = tmp.path('resumed');
    (await train({ ...AIDS, epochs: 1, outDir: dir })).model.dispose();
    const resumed = await train({ outDir: dir, epochs: 2, resume: true, dataDir: FASHION_DIR, backend: 'wasm', workers: 1 });
    try {
      expect(weightsOf(resumed.model)).toEqual(straight.weights);
      expect(metrics(resumed.trainState.epochs)).toEqual(metrics(straight.epochs));
    } finally {
      resumed.model.dispose();
    }
  }, 300_000);

  it('the averaged model is 1-Lipschitz: every layer of its export has largest singular value <= 1 + 1e-4', async () => {
    const { model } = await loadCheckpoint(straightDir);
    try {
      const norms = layerNorms(model);
      expect(norms).toHaveLength(4);
      for (const n of norms) expect(n).toBeLessThanOrEqual(1 + 1e-4);
      // ... and tight: the Björck layers are orthogonal, not merely contracting.
      expect(Math.max(...norms)).toBeGreaterThan(0.99);
    } finally {
      model.dispose();
    }
  }, 300_000);
});

describe('augmentation with workers', () => {
  /** The rows each of 2 workers receives, keyed by epoch·limit + the row's position in its epoch's order. */
  async function rowsSeenByWorkers(options: { limit: number; epochs: number; augmentEpochs?: number }, outDir: string): Promise<Map<number, Float32Array>> {
    const rows = new Map<number, Float32Array>();
    const stepsPerEpoch = options.limit / AIDS.batchSize;
    const original = WorkerPool.prototype.step;
    const spy = jest.spyOn(WorkerPool.prototype, 'step').mockImplementation(function (this: WorkerPool, data, indices, stats, prepareRows) {
      // Steps run one at a time, so `step` counts them across epochs.
      const step = spy.mock.calls.length - 1;
      const base = Math.floor(step / stepsPerEpoch) * options.limit + (step % stepsPerEpoch) * AIDS.batchSize;
      const record = (images: Float32Array, count: number, firstRow: number): void => {
        prepareRows?.(images, count, firstRow);
        for (let r = 0; r < count; r++) rows.set(base + firstRow + r, images.slice(r * 784, (r + 1) * 784));
      };
      return original.call(this, data, indices, stats, record);
    });
    try {
      const result = await train({ ...AIDS, ema: undefined, ...options, workers: 2, outDir });
      result.model.dispose();
    } finally {
      spy.mockRestore();
    }
    return rows;
  }

  /** What the 1-worker path trains on (train.ts): sliceBatch of the epoch's order, augmentRows on the whole batch. */
  function expectRowsOfEpoch(rows: Map<number, Float32Array>, trainSet: Dataset, order: Uint32Array, epoch: number, augmented: boolean): void {
    const n = trainSet.n;
    const spec: AugmentSpec = { mode: augmented ? 'shift-flip' : 'none', shift: 2, seed: AIDS.seed, epoch, height: 28, width: 28, channels: 1 };
    for (let first = 0; first < n; first += 64) {
      const batch = sliceBatch(trainSet.images, trainSet.labels, order.subarray(first, first + 64));
      augmentRows(batch.images, 64, first, spec);
      for (let r = 0; r < 64; r++) expect(rows.get((epoch - 1) * n + first + r)).toEqual(batch.images.slice(r * 784, (r + 1) * 784));
    }
  }

  it("2 workers train on the rows 1 worker trains on: the whole batch gathered in the epoch's order, then augmented, bit for bit", async () => {
    const rows = await rowsSeenByWorkers({ limit: 256, epochs: 1 }, tmp.path('workers-2'));
    const trainSet = await datasetProvider('fashion-mnist').load('train', { dataDir: FASHION_DIR, limit: 256 });
    expect(rows.size).toBe(256);
    expectRowsOfEpoch(rows, trainSet, randomPermutation(256, mulberry32(AIDS.seed)), 1, true);
  }, 300_000);

  it('augmentEpochs 1 of 2: epoch 1 is augmented, epoch 2 trains on the images as they are', async () => {
    const rows = await rowsSeenByWorkers({ limit: 128, epochs: 2, augmentEpochs: 1 }, tmp.path('augment-epochs'));
    const trainSet = await datasetProvider('fashion-mnist').load('train', { dataDir: FASHION_DIR, limit: 128 });
    expect(rows.size).toBe(256);
    const rng = mulberry32(AIDS.seed);
    const orders = [randomPermutation(128, rng), randomPermutation(128, rng)];
    expectRowsOfEpoch(rows, trainSet, orders[0]!, 1, true);
    expectRowsOfEpoch(rows, trainSet, orders[1]!, 2, false);
    // ... and epoch 2 was not augmented by accident of the draws: some of its rows would have been.
    const spec: AugmentSpec = { mode: 'shift-flip', shift: 2, seed: AIDS.seed, epoch: 2, height: 28, width: 28, channels: 1 };
    const plain = sliceBatch(trainSet.images, trainSet.labels, orders[1]!.subarray(0, 64));
    const shifted = Float32Array.from(plain.images);
    augmentRows(shifted, 64, 0, spec);
    expect(shifted).not.toEqual(plain.images);
  }, 300_000);
});

describe('WeightAverage', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('ema = decay·ema + (1 - decay)·w after each update, rounded to float32 once; restores every weight after use', async () => {
    const model = buildModel('seed', { seed: 3 });
    try {
      const decay = 0.75;
      const first = weightValues(model);
      const average = new WeightAverage(decay, model);
      const trainable = model.trainableWeights;
      const steps: Float32Array[][] = [];
      for (let s = 0; s < 2; s++) {
        // A new iterate: the weights scaled, as an optimizer step would move them.
        trainable.forEach((w) => tf.tidy(() => void w.write(tf.add(tf.mul(w.read(), 1.5), 0.01 * (s + 1)))));
        steps.push(trainable.map((w) => Float32Array.from(w.read().dataSync() as Float32Array)));
        average.update();
      }
      const trainableOf = (all: Float32Array[]): Float32Array[] => all.filter((_, i) => model.weights[i]!.trainable);
      const expected = trainableOf(first).map((w0, i) =>
        w0.map((v, e) => {
          const a1 = Math.fround(decay * v + (1 - decay) * steps[0]![i]![e]!);
          return Math.fround(decay * a1 + (1 - decay) * steps[1]![i]![e]!);
        }),
      );
      expect(average.averages).toEqual(expected);

      const before = weightValues(model);
      const seen = await average.withAveragedWeights(() => trainableOf(weightValues(model)));
      expect(seen).toEqual(expected);
      expect(weightValues(model)).toEqual(before);
    } finally {
      model.dispose();
    }
  });

  it("rejects a decay outside (0, 1), quoting 'ema'", () => {
    const model = buildModel('seed', { seed: 3 });
    try {
      expect(() => new WeightAverage(1, model)).toThrow(`'ema' must be a decay in (0, 1), e.g. 0.999, got 1`);
    } finally {
      model.dispose();
    }
  });
});

describe("headNorm 'lln'", () => {
  it('builds the head as FrobeniusDense with unit-norm class rows, for every architecture option', () => {
    const model = buildModel('seed', { seed: 3, headNorm: 'lln' });
    try {
      const head = model.layers[model.layers.length - 1]!;
      expect(head).toBeInstanceOf(FrobeniusDense);
      expect((head as FrobeniusDense).disjointNeurons).toBe(true);
      const kernel = (head as FrobeniusDense).effectiveKernel();
      const rowNorms = tf.tidy(() => tf.norm(kernel, 'euclidean', 0).dataSync());
      kernel.dispose();
      for (const n of rowNorms) expect(n).toBeCloseTo(1, 5);
    } finally {
      model.dispose();
    }
  });

  it("rejects an unknown head, quoting 'headNorm'", () => {
    expect(() => buildModel('seed', { headNorm: 'none' as never })).toThrow(`buildModel: 'headNorm' must be one of spectral, lln, got "none"`);
  });
});

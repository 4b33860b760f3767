/**
 * The deel-lip callbacks with tfjs-layers' own `fit` (their `train()` side is
 * in training/train_library.test.ts), and the non-finite-loss guard that
 * LipschitzSequential's fit adds.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { singularValues as referenceSingularValues } from '@lip/test-support/linalg';
import { tinyModel, tinyTensors } from '@lip/test-support/models';
import { InvalidArgumentError } from '../errors';
import { LipschitzSequential } from '../layers';
import { LipLoss, makeLoss } from '../losses';
import { CondenseCallback } from './condense';
import { interpolate, LossParamScheduler } from './loss_param_scheduler';
import { MonitorCallback } from './monitor';
import { NonFiniteLossError } from './non_finite_loss';
import { singularValues } from './singular_values';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function compiled(seed: number, loss: LipLoss = makeLoss('hkr', { alpha: 10, minMargin: 0.2 })): LipschitzSequential {
  const model = tinyModel(seed);
  model.compile({ optimizer: tf.train.adam(1e-2), loss });
  return model;
}

const rawKernelOf = (model: LipschitzSequential, i: number): tf.Tensor => (model.lipschitzLinearLayers()[i] as unknown as { rawKernel: tf.Tensor }).rawKernel;

test('singularValues: float64 Jacobi agrees with the reference, tall and wide', () => {
  const data = Float32Array.from({ length: 35 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 3)));
  const tall = singularValues(data, 7, 5);
  referenceSingularValues(data, 7, 5).forEach((s, i) => expect(tall[i]).toBeCloseTo(s, 10));
  const wide = singularValues(data, 5, 7);
  referenceSingularValues(data, 5, 7).forEach((s, i) => expect(wide[i]).toBeCloseTo(s, 10));
  expect(tall).toHaveLength(5);
});

test('interpolate is numpy.interp: clamped at both ends, linear between', () => {
  const xp = [0, 10, 30];
  const fp = [1, 5, 0];
  expect([-3, 0, 5, 10, 20, 30, 99].map((x) => interpolate(x, xp, fp))).toEqual([1, 1, 3, 5, 2.5, 0, 0]);
  expect(interpolate(7, [4], [2])).toBe(2);
});

describe('with model.fit (96 images of 8×8, batch 32: 3 batches per epoch)', () => {
  // Made once the cpu backend is set (@lip/train registers wasm, which must be awaited).
  let x: tf.Tensor4D;
  let y: tf.Tensor2D;
  beforeAll(() => {
    ({ x, y } = tinyTensors(96, 1));
  });
  afterAll(() => tf.dispose([x, y]));

  test("MonitorCallback logs each layer's largest singular value and bound per epoch", async () => {
    const model = compiled(3);
    const lines: string[] = [];
    const monitor = new MonitorCallback({ log: (l) => lines.push(l) });
    await model.fit(x, y, { epochs: 2, batchSize: 32, callbacks: [monitor] });
    expect(monitor.history.map((r) => [r.epoch, r.batch])).toEqual([
      [0, null],
      [1, null],
    ]);
    expect(lines).toHaveLength(2);
    // The conv kernel as a [9·cin, cout] matrix is orthonormal times the correction 1/3 (3×3 kernel);
    // its bound is the convolution's, which the matrix's singular values do not give.
    expect(lines[1]).toMatch(/^epoch 2 \(wbar\): spectral_conv2d_\d+ σmax 0\.3333 bound 0\.\d{4} \| spectral_dense_\d+ σmax 1\.0000 bound 1\.0000 \| /);
    const [conv, ...dense] = monitor.history[1]!.layers;
    expect(conv!.sigmas[0]).toBeCloseTo(1 / 3, 3);
    for (const layer of dense) expect(layer.sigmas[0]).toBeCloseTo(1, 3);
    for (const layer of [conv!, ...dense]) {
      expect(layer.sigmas).toHaveLength(1);
      expect(layer.bound).toBeLessThanOrEqual(1 + 1e-4);
    }
    // 'all' on the raw kernels of one layer, every batch
    const name = model.lipschitzLinearLayers()[1]!.name;
    const raw = new MonitorCallback({ layers: [name], target: 'kernel', what: 'all', onEpoch: false, onBatch: true, log: null });
    await model.fit(x, y, { epochs: 1, batchSize: 32, callbacks: [raw] });
    expect(raw.history.map((r) => r.batch)).toEqual([0, 1, 2]);
    const last = raw.history[2]!.layers[0]!;
    expect(last.bound).toBeNull();
    const kernel = rawKernelOf(model, 1);
    const reference = referenceSingularValues(kernel.dataSync(), kernel.shape[0]!, kernel.shape[1]!);
    expect(last.sigmas).toHaveLength(8);
    last.sigmas.forEach((s, i) => expect(s).toBeCloseTo(reference[i]!, 5));
    expect(() => new MonitorCallback({ what: 'some' as never })).toThrow(InvalidArgumentError);
    const wrong = new MonitorCallback({ layers: ['nope'], log: null });
    await expect(model.fit(x, y, { epochs: 1, callbacks: [wrong] })).rejects.toThrow("MonitorCallback: no dense/conv Lipschitz layer named 'nope'");
    model.dispose();
  });

  test('CondenseCallback writes the normalized kernels into the raw ones after each epoch; the function is unchanged', async () => {
    const model = compiled(5);
    // Raw kernels far from orthogonal (as training leaves them).
    for (const [i, w] of model.trainableWeights.entries()) {
      if (/kernel/.test(w.name)) tf.tidy(() => w.write(tf.mul(tf.randomNormal(w.shape as number[], 0, 1, 'float32', 30 + i), 3)));
    }
    model.updateConstraints(30);
    const condense = new CondenseCallback();
    const before = model.predict(x) as tf.Tensor;
    await condense.setModel(model);
    condense.condenseModel();
    const after = model.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(before, after))).dataSync()[0]).toBeLessThan(1e-3);
    // The dense raw kernel is now orthonormal: every singular value 1.
    const dense = rawKernelOf(model, 1);
    for (const s of singularValues(dense.dataSync(), dense.shape[0]!, dense.shape[1]!)) expect(s).toBeCloseTo(1, 3);
    // In fit: after the epoch, whatever Adam did to the raw kernels.
    await model.fit(x, y, { epochs: 1, batchSize: 32, callbacks: [new CondenseCallback()] });
    const trained = rawKernelOf(model, 1);
    for (const s of singularValues(trained.dataSync(), trained.shape[0]!, trained.shape[1]!)) expect(s).toBeCloseTo(1, 3);
    tf.dispose([before, after]);
    model.dispose();
  });

  test('LossParamScheduler sets HKR alpha before each batch, from the global step (3 steps per epoch)', async () => {
    const loss = makeLoss('hkr', { alpha: 10, minMargin: 0.2 });
    const model = compiled(7, loss);
    const seen: number[] = [];
    const scheduler = new LossParamScheduler({ param: 'alpha', xp: [0, 4], fp: [2, 10] });
    await model.fit(x, y, {
      epochs: 2,
      batchSize: 32,
      shuffle: false,
      callbacks: [scheduler, { onBatchBegin: async () => void seen.push(loss.alpha!) }],
    });
    expect(seen).toEqual([2, 4, 6, 8, 10, 10]);
    expect(scheduler.step).toBe(6);
    // Resuming at epoch 1 takes the same values as the uninterrupted run.
    seen.length = 0;
    await model.fit(x, y, {
      epochs: 2,
      initialEpoch: 1,
      batchSize: 32,
      callbacks: [new LossParamScheduler({ param: 'alpha', xp: [0, 4], fp: [2, 10] }), { onBatchBegin: async () => void seen.push(loss.alpha!) }],
    });
    expect(seen).toEqual([8, 10, 10]);
    // Tau-CCE's temperature, passing the loss explicitly.
    const tau = makeLoss('tau_cce', { tau: 1 });
    const tauModel = compiled(8, tau);
    await tauModel.fit(x, y, { epochs: 1, batchSize: 32, callbacks: [new LossParamScheduler({ param: 'tau', xp: [0, 2], fp: [1, 5], loss: tau })] });
    expect(tau.tau).toBe(5);
    // A loss without that parameter fails before the first step.
    const kr = compiled(9, makeLoss('kr'));
    await expect(kr.fit(x, y, { epochs: 1, callbacks: [new LossParamScheduler({ param: 'alpha', xp: [0], fp: [1] })] })).rejects.toThrow(
      "loss 'kr' has no parameter 'alpha' (its parameters: none)",
    );
    [model, tauModel, kr].forEach((m) => m.dispose());
  });

  test('a NaN loss rejects fit with the epoch, the batch and a lower learning rate', async () => {
    const model = compiled(11);
    const poison = {
      onBatchEnd: async (batch: number) => {
        if (batch === 1) tf.tidy(() => model.trainableWeights[0]!.write(tf.fill(model.trainableWeights[0]!.shape as number[], Number.NaN)));
      },
    };
    const err = await model.fit(x, y, { epochs: 2, batchSize: 32, callbacks: poison }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect((err as Error).message).toBe(
      'the loss is NaN at epoch 1, batch 3 of 3: training diverged; lower the learning rate (now 0.01, try 0.005 or less) and train again',
    );
    expect((err as NonFiniteLossError).batch).toBe(3);
    model.dispose();
  });
});

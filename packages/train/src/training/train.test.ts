import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the layers the checkpoints hold
import { tmpDirPerSuite } from '@lip/test-support';
import { FASHION_DIR } from '@lip/test-support/data';
import { weightsOf } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { EpochRecord, loadCheckpoint, readTrainState } from './checkpoint';
import { TrainOptions } from './config';
import { train, TrainResult } from './train';

/** Real Fashion-MNIST; the reference network on the wasm backend. */
const BASE = { arch: 'seed', dataDir: FASHION_DIR, backend: 'wasm' as const, lr: 3e-3, seed: 11 };
/** A short run for the equality tests: 8 steps per epoch, the learning rate decaying linearly over the run. */
const SHORT = { ...BASE, limit: 512, batchSize: 64, lrSchedule: 'linear' as const };
/** `lr * max(0.02, 1 - s/T)` for s = first..last: the linear schedule's rates, written out. */
const linearRates = (first: number, last: number, T: number): number[] =>
  Array.from({ length: last - first + 1 }, (_, i) => BASE.lr * Math.max(0.02, 1 - (first + i) / T));

const tmp = tmpDirPerSuite('train');

const outDir = (name: string): string => tmp.path(name);

/** Everything but the wall time. */
const metrics = (epochs: EpochRecord[]): Omit<EpochRecord, 'seconds'>[] => epochs.map(({ seconds: _s, ...rest }) => rest);

/** Adam's learning rate at each `applyGradients` while `fn` runs: the rates the steps really used. */
async function appliedRates<T>(fn: () => Promise<T>): Promise<{ value: T; rates: number[] }> {
  const rates: number[] = [];
  const original = tf.AdamOptimizer.prototype.applyGradients;
  const spy = jest.spyOn(tf.AdamOptimizer.prototype, 'applyGradients').mockImplementation(function (
    this: tf.AdamOptimizer,
    ...args: Parameters<typeof original>
  ) {
    rates.push((this as unknown as { learningRate: number }).learningRate);
    return original.apply(this, args);
  });
  try {
    return { value: await fn(), rates };
  } finally {
    spy.mockRestore();
  }
}

/** Runs `train` and keeps the final weights; the model is disposed. */
async function trainAndDispose(options: TrainOptions, hooks = {}): Promise<{ result: TrainResult; weights: Float32Array[] }> {
  const result = await train(options, hooks);
  const weights = weightsOf(result.model);
  result.model.dispose();
  return { result, weights };
}

describe('train on Fashion-MNIST (seed network, wasm)', () => {
  it('learns: validation accuracy well above chance after 2 epochs of 2000 images', async () => {
    const dir = outDir('learn');
    const lines: string[] = [];
    const { result } = await trainAndDispose(
      { ...BASE, limit: 2000, batchSize: 128, lr: 5e-3, epochs: 2, outDir: dir },
      { logger: (m: string) => lines.push(m) },
    );
    expect(result.interrupted).toBe(false);
    expect(lines[0]).toMatch(/^backend: wasm/);
    const epochs = result.trainState.epochs;
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(epochs[1].val_acc).toBeGreaterThan(0.5);
    expect(epochs[1].loss).toBeLessThan(epochs[0].loss);
    // train.json is exactly {config, epochs}, readable by scripts.
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'train.json'), 'utf8'));
    expect(Object.keys(json).sort()).toEqual(['config', 'epochs']);
    expect(Object.keys(json.epochs[0]).sort()).toEqual(['acc', 'epoch', 'kr', 'loss', 'lr', 'seconds', 'val_acc', 'val_kr', 'val_loss']);
    expect(json).toEqual(result.trainState);
    expect(json.config).toMatchObject({ arch: 'seed', epochs: 2, limit: 2000, loss: 'hkr', alpha: 100, minMargin: 0.25, lrSchedule: 'constant' });
    expect(epochs.map((e) => e.lr)).toEqual([5e-3, 5e-3]);
  });

  describe('determinism, resume, interruption (linear learning-rate schedule)', () => {
    let straight: { result: TrainResult; weights: Float32Array[] };
    const tensorCounts: number[][] = [[], []];
    const hookRates: number[] = [];
    let adamRates: number[];

    beforeAll(async () => {
      ({ value: straight, rates: adamRates } = await appliedRates(() =>
        trainAndDispose(
          { ...SHORT, epochs: 2, outDir: outDir('straight') },
          {
            onBatchEnd: ({ epoch, lr }: { epoch: number; lr: number }) => {
              tensorCounts[epoch - 1].push(tf.memory().numTensors);
              hookRates.push(lr);
            },
          },
        ),
      ));
    });

    it('steps at lr * max(0.02, 1 - s/16) over the 16 steps, and records each epoch last rate', () => {
      const expected = linearRates(1, 16, 16);
      expect(expected[0]).toBeCloseTo(BASE.lr * (15 / 16), 15);
      expect(expected[15]).toBeCloseTo(BASE.lr * 0.02, 15);
      expect(hookRates).toEqual(expected);
      // What Adam read at each of its 16 updates.
      expect(adamRates).toEqual(hookRates);
      expect(straight.result.trainState.epochs.map((e) => e.lr)).toEqual([hookRates[7], hookRates[15]]);
      expect(readTrainState(outDir('straight')).config.lrSchedule).toBe('linear');
    });

    it('keeps the tensor count flat across steps and epochs', () => {
      expect(tensorCounts[0]).toHaveLength(8);
      expect(tensorCounts[1]).toHaveLength(8);
      // From the second step on (Adam makes its moments at the first), nothing accumulates.
      const steady = [...tensorCounts[0].slice(1), ...tensorCounts[1]];
      expect(new Set(steady).size).toBe(1);
    });

    it('gives identical losses and weights for the same seed', async () => {
      const again = await trainAndDispose({ ...SHORT, epochs: 2, outDir: outDir('again') });
      expect(metrics(again.result.trainState.epochs)).toEqual(metrics(straight.result.trainState.epochs));
      expect(again.weights).toEqual(straight.weights);
      const other = await trainAndDispose({ ...SHORT, seed: 12, epochs: 1, outDir: outDir('other-seed') });
      expect(other.result.trainState.epochs[0].loss).not.toBe(straight.result.trainState.epochs[0].loss);
    });

    it('epoch 1 of 2, stopped, then --resume to 2, equals 2 epochs straight, bit for bit', async () => {
      const dir = outDir('resumed');
      const signal = { aborted: false };
      const first = await trainAndDispose({ ...SHORT, epochs: 2, outDir: dir }, { signal, onEpochEnd: () => (signal.aborted = true) });
      expect(first.result.interrupted).toBe(true);
      expect(readTrainState(dir).epochs.map((e) => e.epoch)).toEqual([1]);
      const logs: string[] = [];
      // A resumed run keeps the stored settings (the schedule too): only the target and the paths are given.
      const { value: resumed, rates } = await appliedRates(() =>
        trainAndDispose({ outDir: dir, epochs: 2, resume: true, dataDir: FASHION_DIR, backend: 'wasm' as const }, { logger: (m: string) => logs.push(m) }),
      );
      expect(logs).toContain(`resuming ${dir} after epoch 1`);
      expect(rates).toEqual(adamRates.slice(8));
      const state = readTrainState(dir);
      expect(state.epochs.map((e) => e.epoch)).toEqual([1, 2]);
      expect(metrics(state.epochs)).toEqual(metrics(straight.result.trainState.epochs));
      expect(resumed.weights).toEqual(straight.weights);
      const { model } = await loadCheckpoint(dir);
      expect(weightsOf(model)).toEqual(straight.weights);
      model.dispose();
      // Already at the target: nothing to do, nothing written.
      const noop = await trainAndDispose({ outDir: dir, epochs: 2, resume: true, dataDir: FASHION_DIR, backend: 'wasm' as const });
      expect(noop.result.trainState.epochs).toHaveLength(2);
    });

    it('an abort mid-epoch keeps the last complete epoch, and resuming finishes the same run', async () => {
      const dir = outDir('aborted');
      const signal = { aborted: false };
      const { result } = await trainAndDispose(
        { ...SHORT, epochs: 2, outDir: dir },
        { signal, onBatchEnd: ({ epoch, step }: { epoch: number; step: number }) => (signal.aborted = epoch === 2 && step === 3) },
      );
      expect(result.interrupted).toBe(true);
      expect(readTrainState(dir).epochs.map((e) => e.epoch)).toEqual([1]);
      expect(fs.existsSync(path.join(dir, '.next'))).toBe(false);
      const resumed = await trainAndDispose({ outDir: dir, epochs: 2, resume: true, dataDir: FASHION_DIR, backend: 'wasm' as const });
      expect(metrics(resumed.result.trainState.epochs)).toEqual(metrics(straight.result.trainState.epochs));
      expect(resumed.weights).toEqual(straight.weights);
    });

    it('a larger --epochs on resume stretches the schedule from there', async () => {
      const dir = outDir('stretched');
      const first = await appliedRates(() => trainAndDispose({ ...SHORT, epochs: 1, outDir: dir }));
      expect(first.rates).toEqual(linearRates(1, 8, 8));
      expect(first.rates[7]).toBeCloseTo(BASE.lr * 0.02, 15);
      // Steps 9..16 of a 16-step run: the rate jumps back up to where the longer run would be.
      const second = await appliedRates(() => trainAndDispose({ outDir: dir, epochs: 2, resume: true, dataDir: FASHION_DIR, backend: 'wasm' as const }));
      expect(second.rates).toEqual(linearRates(9, 16, 16));
      expect(second.rates[0]).toBeGreaterThan(first.rates[7]);
      expect(readTrainState(dir).epochs.map((e) => e.lr)).toEqual([first.rates[7], second.rates[7]]);
    });

    it('refuses to overwrite a checkpoint, or to resume with other run settings', async () => {
      const dir = outDir('straight');
      await expect(train({ ...SHORT, epochs: 3, outDir: dir })).rejects.toThrow(/already holds a checkpoint \(2 epochs\): pass --resume/);
      await expect(train({ outDir: dir, epochs: 3, resume: true, batchSize: 32 })).rejects.toThrow(InvalidArgumentError);
      await expect(train({ outDir: dir, epochs: 3, resume: true, batchSize: 32 })).rejects.toThrow(
        `'batchSize' is 32 but the checkpoint in ${dir} was trained with 64`,
      );
      await expect(train({ outDir: dir, epochs: 3, resume: true, lrSchedule: 'cosine' })).rejects.toThrow(
        `'lrSchedule' is "cosine" but the checkpoint in ${dir} was trained with "linear"`,
      );
    });
  });
});

/**
 * An exponential moving average of a model's trainable weights (Polyak
 * averaging; `lip train --ema DECAY`):
 *
 *     ema_t = decay · ema_{t-1} + (1 - decay) · w_t,   ema_0 = w_0
 *
 * after each optimizer step, in float64 and rounded to float32 once, on the
 * main thread (the same with any backend or worker count).
 *
 * The averages are raw weights: each Lipschitz layer normalizes them in its
 * graph (spectral norm, Björck, ...), so the averaged model is 1-Lipschitz
 * like any other. Only the power-iteration vectors (non-trainable) belong to
 * the raw weights they were iterated on: `withAveragedWeights` re-runs the
 * power iteration on the averages before using them, and restores every
 * weight of the model (trainable or not) bit for bit afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_NITER_SPECTRAL_INIT } from '../constants';
import { assertArg } from '../errors';
import { LipschitzSequential } from '../layers';

/** Power iterations that fit the vectors to the averaged weights (as many as a fresh layer's). */
export const EMA_POWER_ITERATIONS = DEFAULT_NITER_SPECTRAL_INIT;

/** The values of every weight of `model`, in `model.weights` order (copies). */
export function weightValues(model: LipschitzSequential): Float32Array[] {
  return model.weights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
}

/** Writes `values` (in `model.weights` order) into `model`'s weights. */
export function writeWeightValues(model: LipschitzSequential, values: readonly Float32Array[]): void {
  assertArg(values.length === model.weights.length, () => `'values' holds ${values.length} arrays, the model ${model.weights.length} weights`);
  model.weights.forEach((w, i) => {
    tf.tidy(() => {
      w.write(tf.tensor(values[i]!, w.shape as number[], 'float32'));
    });
  });
}

export class WeightAverage {
  /** One average per trainable weight, in `model.trainableWeights` order. */
  readonly averages: Float32Array[];

  /** Starts from `initial` (a checkpoint's averages), else from the model's current trainable weights. */
  constructor(
    readonly decay: number,
    private readonly model: LipschitzSequential,
    initial?: Float32Array[],
  ) {
    assertArg(Number.isFinite(decay) && decay > 0 && decay < 1, () => `'ema' must be a decay in (0, 1), e.g. 0.999, got ${decay}`);
    const trainable = model.trainableWeights;
    if (initial !== undefined) {
      assertArg(
        initial.length === trainable.length && initial.every((a, i) => a.length === trainable[i]!.read().size),
        () => `the weight averages do not match the model's ${trainable.length} trainable weights`,
      );
    }
    this.averages = initial ?? trainable.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
  }

  /** ema = decay·ema + (1 - decay)·w for every trainable weight (call after each optimizer step). */
  update(): void {
    const d = this.decay;
    const rest = 1 - d;
    this.model.trainableWeights.forEach((w, i) => {
      const values = w.read().dataSync() as Float32Array;
      const avg = this.averages[i]!;
      for (let e = 0; e < avg.length; e++) avg[e] = d * avg[e]! + rest * values[e]!;
    });
  }

  /**
   * Puts the averages into the model's trainable weights, with power-iteration
   * vectors fitted to them; returns the weights it replaced (all of them, for
   * `writeWeightValues`).
   */
  apply(): Float32Array[] {
    const raw = weightValues(this.model);
    this.model.trainableWeights.forEach((w, i) => {
      tf.tidy(() => {
        w.write(tf.tensor(this.averages[i]!, w.shape as number[], 'float32'));
      });
    });
    this.model.updateConstraints(EMA_POWER_ITERATIONS);
    return raw;
  }

  /** Runs `fn` with the averaged weights in the model, then restores every weight as it was. */
  async withAveragedWeights<T>(fn: (rawWeights: Float32Array[]) => Promise<T> | T): Promise<T> {
    const raw = this.apply();
    try {
      return await fn(raw);
    } finally {
      writeWeightValues(this.model, raw);
    }
  }
}

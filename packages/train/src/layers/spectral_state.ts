/**
 * The persistent power-iteration vectors of a spectrally normalized matrix,
 * and the normalization `bjorck(w / sigma)` they feed. The vectors are
 * non-trainable weights: saved with the model, never differentiated. They
 * change only in `update()`, which runs outside any gradient tape.
 */
import * as tf from '@tensorflow/tfjs-core';
import { LayerVariable } from '@tensorflow/tfjs-layers';
import { bjorckOrthonormalize, bjorckOrthonormalizeToConvergence, powerIteration, powerIterationToConvergence, spectralNormalize } from '../normalizers';
import { assertArg } from '../errors';
import { assertIterations } from './lipschitz';

/** Björck settings of a layer. */
export interface BjorckSettings {
  niterBjorck: number;
  betaBjorck: number;
}

/** Validates `niterBjorck`, `betaBjorck` and `niterSpectral`. */
export function validateSpectralArgs(args: { niterBjorck: unknown; betaBjorck: unknown; niterSpectral: unknown }, where: string): void {
  assertIterations(args.niterBjorck, 'niterBjorck', where);
  assertIterations(args.niterSpectral, 'niterSpectral', where, 1);
  const beta = args.betaBjorck;
  assertArg(typeof beta === 'number' && Number.isFinite(beta) && beta > 0, () => `${where}: 'betaBjorck' must be a finite number > 0, got ${String(beta)}`);
}

/** `u [1, out]` and `v [1, in]` of a matrix `w [in, out]`. */
export class SpectralVectors {
  constructor(
    readonly u: LayerVariable,
    readonly v: LayerVariable,
  ) {}

  /** `niter` power iterations from the stored `u`; stores the new `u` and `v`. No tape. */
  update(w: tf.Tensor2D, niter: number): void {
    tf.tidy(() => {
      const r = powerIteration(w, this.u.read() as tf.Tensor2D, niter);
      this.u.write(r.u);
      this.v.write(r.v);
    });
  }

  /**
   * `bjorck(w / sigma)` with `sigma = v w u^T` (u, v constants): differentiable
   * in `w`. With `converge`, Björck runs to convergence in float64 (the
   * orthogonal polar factor, which does not depend on sigma); with
   * `niterBjorck = 0`, `w / sigma` with sigma from power iteration to
   * convergence. Neither touches the stored vectors.
   */
  normalize(w: tf.Tensor2D, settings: BjorckSettings, converge: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      if (converge) {
        if (settings.niterBjorck > 0) {
          return bjorckOrthonormalizeToConvergence(w, { beta: settings.betaBjorck }).w;
        }
        const r = powerIterationToConvergence(w, this.u.read() as tf.Tensor2D);
        return spectralNormalize(w, r.u, r.v);
      }
      const wn = spectralNormalize(w, this.u.read() as tf.Tensor2D, this.v.read() as tf.Tensor2D);
      return bjorckOrthonormalize(wn, settings.niterBjorck, settings.betaBjorck);
    });
  }
}

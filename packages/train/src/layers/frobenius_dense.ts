/**
 * Dense layer whose kernel is divided by its Frobenius norm (deel-torchlip
 * `FrobeniusLinear`, `frobenius_norm`; deel-lip `FrobeniusDense`):
 *
 *     disjointNeurons false:  W_eff = W / ||W||_F * kCoefLip
 *     disjointNeurons true:   W_eff[:, j] = W[:, j] / ||W[:, j]|| * kCoefLip
 *
 * ||W||_2 <= ||W||_F, so the first form is kCoefLip-Lipschitz; it is tight
 * when W has rank one (a single output), the case it is meant for.
 *
 * The second (deel-torchlip PR 49, `disjoint_neurons=True`) makes each output
 * neuron kCoefLip-Lipschitz on its own, but the layer as a whole only
 * kCoefLip * sqrt(units)-Lipschitz (||W||_2 <= ||W||_F = sqrt(units) kCoefLip,
 * equal when the rows coincide), which is what `lipschitzConstant()` states.
 * As the last layer of a classifier, the head-aware certificate
 * (@lip/core certificates) uses the margin f_i - f_j, which is
 * ||w_i - w_j|| <= 2 kCoefLip Lipschitz (sqrt(2) kCoefLip for orthogonal rows),
 * instead of that global constant.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Shape } from '@tensorflow/tfjs-layers';
import { assertArg } from '../errors';
import { LipschitzDenseArgs, LipschitzDenseBase } from './linear_base';
import { columnNormalize, frobeniusNormalize } from './frobenius';

export interface FrobeniusDenseArgs extends LipschitzDenseArgs {
  /**
   * Normalize each output neuron's weights by their own L2 norm (deel-lip's default) instead of
   * the whole kernel by its Frobenius norm; the layer is then kCoefLip * sqrt(units)-Lipschitz.
   * Default false.
   */
  disjointNeurons?: boolean;
}

export class FrobeniusDense extends LipschitzDenseBase {
  static className = 'Lip>FrobeniusDense';
  readonly disjointNeurons: boolean;

  constructor(args: FrobeniusDenseArgs) {
    super(args, 'frobenius_dense');
    this.disjointNeurons = args.disjointNeurons ?? false;
    assertArg(
      typeof this.disjointNeurons === 'boolean',
      () => `${FrobeniusDense.className}: 'disjointNeurons' must be a boolean, got ${String(args.disjointNeurons)}`,
    );
  }

  /** Adds the raw kernel (seeded orthogonal) and the zero bias; no persistent state. */
  override build(inputShape: Shape | Shape[]): void {
    super.build(inputShape);
  }

  // computeOutputShape: LipschitzDenseBase. call(): LipschitzLinearBase, in tidy.

  /** Nothing to update: the Frobenius norm is exact. */
  updateConstraints(): void {}

  /** kCoefLip, or kCoefLip * sqrt(units) with disjoint neurons (each row has norm kCoefLip). */
  override lipschitzConstant(): number {
    return this.disjointNeurons ? this.kCoefLip * Math.sqrt(this.units) : this.kCoefLip;
  }

  protected normalizedKernel(): tf.Tensor {
    return this.disjointNeurons ? columnNormalize(this.rawKernel) : frobeniusNormalize(this.rawKernel);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), disjointNeurons: this.disjointNeurons };
  }
}
tf.serialization.registerClass(FrobeniusDense);

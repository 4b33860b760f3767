/**
 * Dense layer whose kernel is divided by its Frobenius norm (deel-torchlip
 * `FrobeniusLinear` with `disjoint_neurons=False`, `frobenius_norm`):
 *
 *     W_eff = W / ||W||_F * kCoefLip
 *
 * ||W||_2 <= ||W||_F, so the layer is kCoefLip-Lipschitz; it is tight when W
 * has rank one (a single output), the case it is meant for.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Shape } from '@tensorflow/tfjs-layers';
import { LipschitzDenseArgs, LipschitzDenseBase } from './linear_base';
import { frobeniusNormalize } from './frobenius';

export interface FrobeniusDenseArgs extends LipschitzDenseArgs {}

export class FrobeniusDense extends LipschitzDenseBase {
  static className = 'Lip>FrobeniusDense';

  constructor(args: FrobeniusDenseArgs) {
    super(args, 'frobenius_dense');
  }

  /** Adds the raw kernel (seeded orthogonal) and the zero bias; no persistent state. */
  override build(inputShape: Shape | Shape[]): void {
    super.build(inputShape);
  }

  // computeOutputShape: LipschitzDenseBase. call(): LipschitzLinearBase, in tidy.

  /** Nothing to update: the Frobenius norm is exact. */
  updateConstraints(): void {}

  protected normalizedKernel(): tf.Tensor {
    return frobeniusNormalize(this.rawKernel);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(FrobeniusDense);

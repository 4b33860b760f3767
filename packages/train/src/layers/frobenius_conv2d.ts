/**
 * Convolution whose kernel is divided by its Frobenius norm (deel-torchlip
 * `FrobeniusConv2d`: `frobenius_norm` then `lconv_norm`):
 *
 *     K_eff = K / ||K||_F * convCorrectionFactor(kernelSize, strides) * kCoefLip
 *
 * ||K||_F bounds the norm of the reshaped kernel [kh*kw*cin, cout], and the
 * correction 1/sqrt(ceil(kh/s) ceil(kw/s)) bounds how many output positions
 * one input pixel reaches, so the convolution is kCoefLip-Lipschitz.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Shape } from '@tensorflow/tfjs-layers';
import { convCorrectionFactor } from '../normalizers';
import { LipschitzConv2DArgs, LipschitzConv2DBase } from './linear_base';
import { frobeniusNormalize } from './frobenius';

export interface FrobeniusConv2DArgs extends LipschitzConv2DArgs {}

export class FrobeniusConv2D extends LipschitzConv2DBase {
  static className = 'Lip>FrobeniusConv2D';

  constructor(args: FrobeniusConv2DArgs) {
    super(args, 'frobenius_conv2d');
  }

  /** Adds the raw kernel (seeded orthogonal on [kh*kw*cin, cout]) and the zero bias; no persistent state. */
  override build(inputShape: Shape | Shape[]): void {
    super.build(inputShape);
  }

  // computeOutputShape: LipschitzConv2DBase. call(): LipschitzLinearBase, in tidy.

  /** Nothing to update: the Frobenius norm is exact. */
  updateConstraints(): void {}

  protected normalizedKernel(): tf.Tensor {
    const correction = convCorrectionFactor(this.kernelSize, this.strides);
    return tf.tidy(() => tf.mul(frobeniusNormalize(this.rawKernel), correction));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(FrobeniusConv2D);

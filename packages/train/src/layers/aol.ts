/**
 * Almost-orthogonal layers (AOL; Prach & Lampert 2022, "Almost-Orthogonal
 * Layers for Efficient General-Purpose Lipschitz Networks"): the raw kernel
 * rescaled along its input axis so that the layer is 1-Lipschitz, with no
 * iteration and no persistent state (normalizers/aol.ts):
 *
 *     dense:  W_eff = diag(d) P * kCoefLip,   d_i = (sum_j |P P^T|_ij + 1e-6)^(-1/2)
 *     conv:   K_eff = K diag(d) * kCoefLip,   d_i = (sum_{j, s} |(K_i * K_j)(s)| + 1e-6)^(-1/2)
 *
 * The bound is tight when the rows of P (the conv's channel slices at all
 * shifts) are orthogonal, and training drives them that way. A stride keeps
 * the bound (it drops outputs) but loosens it; the reference refuses strides.
 * Exported as a plain Gemm / Conv with the rescaled kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Shape } from '@tensorflow/tfjs-layers';
import { aolRescaleConv, aolRescaleDense } from '../normalizers/aol';
import { LipschitzConv2DArgs, LipschitzConv2DBase, LipschitzDenseArgs, LipschitzDenseBase } from './linear_base';
import { seededOrthogonal } from './lipschitz';

export interface AOLDenseArgs extends LipschitzDenseArgs {}

/** Dense layer with an AOL-rescaled kernel (berndprach/AOL `AOLDense`). */
export class AOLDense extends LipschitzDenseBase {
  static className = 'Lip>AOLDense';

  constructor(args: AOLDenseArgs) {
    super(args, 'aol_dense');
  }

  /** Adds the raw kernel (seeded orthogonal) and the zero bias; no persistent state. */
  override build(inputShape: Shape | Shape[]): void {
    super.build(inputShape);
  }

  // computeOutputShape: LipschitzDenseBase. call(): LipschitzLinearBase, in tidy.

  /** Nothing to update: the rescaling is exact. */
  updateConstraints(): void {}

  protected normalizedKernel(): tf.Tensor {
    return aolRescaleDense(this.rawKernel as tf.Tensor as tf.Tensor2D);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(AOLDense);

export interface AOLConv2DArgs extends LipschitzConv2DArgs {}

/** Convolution with an AOL-rescaled kernel (berndprach/AOL `AOLConv2D`). */
export class AOLConv2D extends LipschitzConv2DBase {
  static className = 'Lip>AOLConv2D';

  constructor(args: AOLConv2DArgs) {
    super(args, 'aol_conv2d');
  }

  /**
   * Adds the raw kernel and the zero bias; no persistent state. The kernel
   * starts as the reference's "orthogonal center": a seeded orthogonal
   * `[cin, cout]` at the center tap, zeros elsewhere (an orthogonal conv, which
   * AOL leaves unchanged), not an orthogonal `[kh*kw*cin, cout]` (which AOL
   * would shrink).
   */
  override build(inputShape: Shape | Shape[]): void {
    super.build(inputShape);
    if (this.fastInit) return;
    const [kh, kw, cin, cout] = this.rawKernel.shape;
    tf.tidy(() => {
      const center = seededOrthogonal(cin, cout, this.seed);
      const taps = Array.from({ length: kh * kw }, (_, t) => (t === Math.floor((kh - 1) / 2) * kw + Math.floor((kw - 1) / 2) ? center : tf.zerosLike(center)));
      this.kernel!.write(tf.reshape(tf.stack(taps), [kh, kw, cin, cout]));
    });
  }

  // computeOutputShape: LipschitzConv2DBase. call(): LipschitzLinearBase, in tidy.

  /** Nothing to update: the rescaling is exact. */
  updateConstraints(): void {}

  protected normalizedKernel(): tf.Tensor {
    return aolRescaleConv(this.rawKernel as tf.Tensor as tf.Tensor4D);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(AOLConv2D);

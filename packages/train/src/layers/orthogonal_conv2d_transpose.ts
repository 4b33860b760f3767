/**
 * Transposed orthogonal convolution: the adjoint of a (strided) BCOP
 * `OrthogonalConv2D` from `filters` to the input's channels. With stride `s`
 * it upsamples by `s`; it is a depth-to-space (a pixel permutation) after the
 * adjoint of the stride-1 BCOP convolution, whose transfer function is the
 * conjugate transpose of a unitary one, so its operator norm equals the
 * convolution's (`||A^T|| = ||A||` <= 1): an isometry where the convolution
 * is a co-isometry and conversely (Li et al. 2019). orthogonium's AOC
 * (thib-s/orthogonium, layers/conv/AOC/ortho_conv.py:
 * AdaptiveOrthoConvTranspose2d -> FastBlockConvTranspose2D,
 * BcopRkoConvTranspose2d) likewise offers the transposed conv of its strided
 * orthogonal convs; its strided kernel is BCOP composed with an RKO block
 * (`k s` taps from a `k` BCOP and an `s x s` orthogonal reshape), ours BCOP
 * on the space-to-depth input: both exactly orthogonal.
 *
 * The effective kernel is the convolution's, `[kh sh, kw sw, filters, cin]`,
 * which is also the layout of tfjs's `conv2dTranspose` filter and of the
 * Conv2DTranspose twin. The adjoint of the zero-padded 'same' convolution
 * (pads `p s` on each side) is tfjs's 'same' transposed convolution: output
 * `[H s, W s]`; 'valid' gives `[(H + kh - 1) sh, (W + kw - 1) sw]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layers, Shape } from '@tensorflow/tfjs-layers';
import { OrthogonalConv2D, OrthogonalConv2DArgs } from './orthogonal_conv2d';

export type OrthogonalConv2DTransposeArgs = OrthogonalConv2DArgs;

export class OrthogonalConv2DTranspose extends OrthogonalConv2D {
  static override className = 'Lip>OrthogonalConv2DTranspose';

  constructor(args: OrthogonalConv2DTransposeArgs) {
    super(args, 'orthogonal_conv2d_transpose');
  }

  /** The adjoint maps the convolution's output channels (this layer's input) back to `filters`. */
  protected override convChannels(inputChannels: number): [number, number] {
    return [this.filters, inputChannels];
  }

  /** Any input size: the output is a multiple of the stride by construction. */
  protected override checkSpatial(): void {}

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return this.spatialOutputShape(inputShape, (n, k, s) => (this.padding === 'same' ? n * s : (n + k - 1) * s));
  }

  protected override linearMap(x: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
    const x4 = x as tf.Tensor4D;
    const [, h, w] = this.computeOutputShape(x4.shape) as number[];
    return tf.conv2dTranspose(x4, kernel as tf.Tensor4D, [x4.shape[0], h, w, this.filters], this.strides, this.padding);
  }

  protected override plainTwin(): layers.Layer {
    return layers.conv2dTranspose(this.composedTwinArgs());
  }
}
tf.serialization.registerClass(OrthogonalConv2DTranspose);

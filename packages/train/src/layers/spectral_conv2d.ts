/**
 * Convolution with a spectrally normalized, orthonormalized kernel (deel-lip
 * `SpectralConv2D`, deel-torchlip `SpectralConv2d`). Two normalizations:
 *
 * - `'bjorck'` (default): the kernel reshaped to `[kh*kw*cin, cout]` gets
 *   spectral normalization and Björck, then the guaranteed correction
 *
 *       K_eff = reshape(bjorck(W / sigma)) / sqrt(ceil(kh/s) ceil(kw/s)) * kCoefLip
 *
 *   (deel-torchlip's current `compute_lconv_coef` without input shape). Valid
 *   on any input size, not tight.
 * - `'operator'`: the Björck kernel is divided by the operator norm of the
 *   convolution on this layer's input shape, estimated by power iteration
 *   through the conv and its adjoint with a persistent input-shaped vector:
 *
 *       K_eff = K_b / ||conv(K_b, .)||_op * kCoefLip,   K_b = reshape(bjorck(W / sigma))
 *
 *   Tight (the norm is k, up to the power-iteration error); the layer only
 *   accepts inputs of the shape it was built on.
 *
 * The vectors are non-trainable weights, updated by `updateConstraints()`
 * outside any tape and used as constants in `call()`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import { DEFAULT_BETA_BJORCK, DEFAULT_NITER_BJORCK, DEFAULT_NITER_SPECTRAL, DEFAULT_NITER_SPECTRAL_INIT } from '../constants';
import { assertArg } from '../errors';
import { convCorrectionFactor, convOperatorNorm, convPowerIteration, convPowerIterationToConvergence } from '../normalizers';
import { LipschitzConv2DArgs, LipschitzConv2DBase, singleShape } from './linear_base';
import { assertIterations } from './lipschitz';
import { SpectralVectors, validateSpectralArgs } from './spectral_state';

/** How SpectralConv2D turns the orthonormalized matrix into a k-Lipschitz convolution. */
export type ConvNormalization = 'bjorck' | 'operator';

export interface SpectralConv2DArgs extends LipschitzConv2DArgs {
  /** `'bjorck'` (correction factor, any input size) or `'operator'` (exact operator norm on the built input shape). Default `'bjorck'`. */
  normalization?: ConvNormalization;
  /** Björck iterations in each call; 0 gives spectral normalization only. Default `DEFAULT_NITER_BJORCK` (15). */
  niterBjorck?: number;
  /** Björck step size. Default `DEFAULT_BETA_BJORCK` (0.5). */
  betaBjorck?: number;
  /** Power iterations per `updateConstraints()` call (each vector). Default `DEFAULT_NITER_SPECTRAL` (3). */
  niterSpectral?: number;
}

export class SpectralConv2D extends LipschitzConv2DBase {
  static className = 'Lip>SpectralConv2D';
  readonly normalization: ConvNormalization;
  readonly niterBjorck: number;
  readonly betaBjorck: number;
  readonly niterSpectral: number;
  private spectral: SpectralVectors | null = null;
  /** Operator mode: the persistent input-shaped vector `[1, H, W, cin]`. */
  private operatorVector: LayerVariable | null = null;

  constructor(args: SpectralConv2DArgs) {
    super(args, 'spectral_conv2d');
    const where = SpectralConv2D.className;
    this.normalization = args.normalization ?? 'bjorck';
    assertArg(
      this.normalization === 'bjorck' || this.normalization === 'operator',
      () => `${where}: 'normalization' must be 'bjorck' or 'operator', got ${JSON.stringify(args.normalization)}`,
    );
    this.niterBjorck = args.niterBjorck ?? DEFAULT_NITER_BJORCK;
    this.betaBjorck = args.betaBjorck ?? DEFAULT_BETA_BJORCK;
    this.niterSpectral = args.niterSpectral ?? DEFAULT_NITER_SPECTRAL;
    validateSpectralArgs(this, where);
  }

  /**
   * Adds kernel, bias, `u [1, cout]`, `v [1, kh*kw*cin]` and, in operator
   * mode, the input-shaped vector; runs `DEFAULT_NITER_SPECTRAL_INIT` iterations.
   */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    if (this.normalization === 'operator') {
      assertArg(
        typeof shape[1] === 'number' && typeof shape[2] === 'number',
        () => `${this.name}: normalization 'operator' needs a known input height and width, got input shape [${shape.join(', ')}]`,
      );
    }
    super.build(shape);
    const [kh, kw, cin, cout] = this.rawKernel.shape;
    const u = this.addPersistentVector('u', [1, cout], 1);
    const v = this.addPersistentVector('v', [1, kh * kw * cin], 2);
    this.spectral = new SpectralVectors(u, v);
    if (this.normalization === 'operator') {
      const [, h, w, c] = shape as number[];
      this.operatorVector = this.addPersistentVector('u_operator', [1, h, w, c], 3);
      // The operator norm holds for this input size only.
      this.inputSpec = [{ ndim: 4, axes: { 1: h, 2: w, 3: c } }];
    }
    if (!this.fastInit) this.updateConstraints(DEFAULT_NITER_SPECTRAL_INIT);
  }

  // computeOutputShape: LipschitzConv2DBase. call(): LipschitzLinearBase, in tidy.

  updateConstraints(niter: number = this.niterSpectral): void {
    assertIterations(niter, 'niter', `${this.name}.updateConstraints`, 1);
    const spectral = this.requireSpectral();
    tf.tidy(() => {
      spectral.update(this.kernel2d(this.rawKernel), niter);
      if (this.operatorVector !== null) {
        const r = convPowerIteration(
          this.orthonormalizedKernel(false) as tf.Tensor4D,
          this.operatorVector.read() as tf.Tensor4D,
          this.strides,
          this.padding,
          niter,
        );
        this.operatorVector.write(r.u);
      }
    });
  }

  /** `reshape(bjorck(W2d / sigma))`, before the correction or the operator norm. */
  private orthonormalizedKernel(converge: boolean): tf.Tensor {
    const spectral = this.requireSpectral();
    return tf.tidy(() => tf.reshape(spectral.normalize(this.kernel2d(this.rawKernel), this, converge), this.rawKernel.shape));
  }

  protected normalizedKernel(converge: boolean): tf.Tensor {
    return tf.tidy(() => {
      const kb = this.orthonormalizedKernel(converge) as tf.Tensor4D;
      if (this.operatorVector === null) {
        return tf.mul(kb, convCorrectionFactor(this.kernelSize, this.strides));
      }
      const u = this.operatorVector.read() as tf.Tensor4D;
      const sigma = converge ? convPowerIterationToConvergence(kb, u, this.strides, this.padding).sigma : convOperatorNorm(kb, u, this.strides, this.padding);
      return tf.div(kb, sigma);
    });
  }

  private requireSpectral(): SpectralVectors {
    assertArg(this.spectral !== null, () => `${this.name}: the layer is not built yet`);
    return this.spectral;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      normalization: this.normalization,
      niterBjorck: this.niterBjorck,
      betaBjorck: this.betaBjorck,
      niterSpectral: this.niterSpectral,
    };
  }
}
tf.serialization.registerClass(SpectralConv2D);

/**
 * Dense layer with an orthonormalized kernel (deel-lip / deel-torchlip
 * `SpectralDense` / `SpectralLinear`):
 *
 *     W_eff = bjorck(W / sigma(W)) * kCoefLip
 *
 * sigma is the power-iteration estimate of ||W||_2 from persistent vectors
 * (Miyato et al. 2018), Björck drives every singular value to 1 (Anil et al.
 * 2019), so the layer is kCoefLip-Lipschitz and gradient-norm preserving.
 */
import * as tf from '@tensorflow/tfjs-core';
import { LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import { DEFAULT_BETA_BJORCK, DEFAULT_NITER_BJORCK, DEFAULT_NITER_SPECTRAL, DEFAULT_NITER_SPECTRAL_INIT } from '../constants';
import { assertArg } from '../errors';
import { LipschitzDenseArgs, LipschitzDenseBase } from './linear_base';
import { assertIterations } from './lipschitz';
import { SpectralVectors, validateSpectralArgs } from './spectral_state';

export interface SpectralDenseArgs extends LipschitzDenseArgs {
  /** Björck iterations in each call; 0 gives spectral normalization only. Default `DEFAULT_NITER_BJORCK` (15). */
  niterBjorck?: number;
  /** Björck step size. Default `DEFAULT_BETA_BJORCK` (0.5). */
  betaBjorck?: number;
  /** Power iterations per `updateConstraints()` call. Default `DEFAULT_NITER_SPECTRAL` (3). */
  niterSpectral?: number;
}

export class SpectralDense extends LipschitzDenseBase {
  static className = 'Lip>SpectralDense';
  readonly niterBjorck: number;
  readonly betaBjorck: number;
  readonly niterSpectral: number;
  private spectral: SpectralVectors | null = null;

  constructor(args: SpectralDenseArgs) {
    super(args, 'spectral_dense');
    this.niterBjorck = args.niterBjorck ?? DEFAULT_NITER_BJORCK;
    this.betaBjorck = args.betaBjorck ?? DEFAULT_BETA_BJORCK;
    this.niterSpectral = args.niterSpectral ?? DEFAULT_NITER_SPECTRAL;
    validateSpectralArgs(this, SpectralDense.className);
  }

  /** Adds kernel, bias and the power-iteration vectors `u [1, units]`, `v [1, in]`; runs `DEFAULT_NITER_SPECTRAL_INIT` iterations. */
  override build(inputShape: Shape | Shape[]): void {
    super.build(inputShape);
    const [inputDim, units] = this.rawKernel.shape;
    const u: LayerVariable = this.addPersistentVector('u', [1, units], 1);
    const v: LayerVariable = this.addPersistentVector('v', [1, inputDim], 2);
    this.spectral = new SpectralVectors(u, v);
    if (!this.fastInit) this.updateConstraints(DEFAULT_NITER_SPECTRAL_INIT);
  }

  // computeOutputShape: LipschitzDenseBase. call(): LipschitzLinearBase, in tidy.

  updateConstraints(niter: number = this.niterSpectral): void {
    assertIterations(niter, 'niter', `${this.name}.updateConstraints`, 1);
    assertArg(this.spectral !== null, () => `${this.name}: the layer is not built yet`);
    this.spectral.update(this.rawKernel as tf.Tensor as tf.Tensor2D, niter);
  }

  protected normalizedKernel(converge: boolean): tf.Tensor {
    assertArg(this.spectral !== null, () => `${this.name}: the layer is not built yet`);
    return this.spectral.normalize(this.rawKernel as tf.Tensor as tf.Tensor2D, this, converge);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      niterBjorck: this.niterBjorck,
      betaBjorck: this.betaBjorck,
      niterSpectral: this.niterSpectral,
    };
  }
}
tf.serialization.registerClass(SpectralDense);

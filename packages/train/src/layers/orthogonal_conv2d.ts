/**
 * Orthogonal convolution by block convolutional orthogonal parametrization
 * (BCOP, Li et al. 2019, "Preventing gradient attenuation in Lipschitz
 * constrained convolutional networks"). With `C = max(cin, cout)`, the
 * `kh x kw` kernel of a `C -> C` convolution is the composition
 *
 *     K = H  *  R_1 * ... * R_{kw-1}  *  V_1 * ... * V_{kh-1}
 *
 * of a 1x1 orthogonal matrix `H` with 1x2 blocks `R_i = [P_i, I - P_i]` and
 * 2x1 blocks `V_i = [Q_i; I - Q_i]`, where `P_i = U_i U_i^T` and
 * `Q_i = W_i W_i^T` are orthogonal projectors (`U_i, W_i` are `C x floor(C/2)`
 * with orthonormal columns, by Björck). Each factor's transfer function is
 * unitary at every frequency (`P + (I - P) e^{iw}`), so the composed
 * convolution is orthogonal on the infinite grid. The layer keeps the first
 * `cin` input and `cout` output channels of `K`: an isometry when
 * `cin <= cout` (zero-padded input channels), a co-isometry when
 * `cin >= cout`, so the gradient norm is preserved through it (not only
 * bounded). With zero 'same' padding the map is the infinite-grid operator
 * restricted to the image, so its norm is at most 1 (equality except near
 * the border).
 *
 * Every factor stays a contraction even when Björck has not converged (its
 * singular values stay in [0, 1]), so the layer is 1-Lipschitz at any
 * training step; the export kernel is built from converged factors.
 *
 * Stride `s = [sh, sw]` (Li et al. 2019, invertible downsampling): the BCOP convolution runs
 * on the invertible downsampling (space-to-depth, a pixel permutation) of the
 * input, with `sh sw cin` input channels, so the strided map is exactly as
 * orthogonal as the stride-1 one. The two compose into one `kh sh x kw sw`
 * convolution with stride `s`: `K'[a sh + dy, b sw + dx, c, o] =
 * K[a, b, (dy sw + dx) cin + c, o]` (the channel order of
 * `invertibleDownSampling`), and 'same' pads of `p` pixels on the coarse grid
 * are the pads `p s` that tfjs 'same' gives the composed kernel when the
 * input size is a multiple of `s`, which the layer requires.
 *
 * The trainable `kernel` is one matrix `[C, C + nb r]` with
 * `C = max(sh sw cin, cout)`: `H` in columns `[0, C)`, then the
 * `nb = (kh - 1) + (kw - 1)` projector generators of `r = floor(C / 2)`
 * columns each. Odd kernel sizes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layers, Shape } from '@tensorflow/tfjs-layers';
import { DEFAULT_BETA_BJORCK } from '../constants';
import { assertArg } from '../errors';
import { bjorckOrthonormalize, bjorckOrthonormalizeToConvergence } from '../normalizers';
import { LipschitzConv2DArgs, LipschitzConv2DBase } from './linear_base';
import { assertIterations } from './lipschitz';

/** Björck iterations per factor in each call (the factors start far from orthogonal: spectral scale only). */
export const DEFAULT_NITER_BCOP = 20;

export interface OrthogonalConv2DArgs extends LipschitzConv2DArgs {
  /** Björck iterations per factor in each call. Default `DEFAULT_NITER_BCOP` (20). */
  niterBjorck?: number;
}

export class OrthogonalConv2D extends LipschitzConv2DBase {
  static className = 'Lip>OrthogonalConv2D';
  readonly niterBjorck: number;
  /** `max(sh sw cin, cout)` of the BCOP convolution, known after build. */
  private side = 0;
  /** Input channels of the composed (strided) convolution. */
  private cin = 0;
  /** Output channels of the convolution the layer applies. */
  private convOut = 0;

  constructor(args: OrthogonalConv2DArgs, defaultNamePrefix = 'orthogonal_conv2d') {
    super(args, defaultNamePrefix);
    const where = (this.constructor as unknown as { className: string }).className;
    this.niterBjorck = args.niterBjorck ?? DEFAULT_NITER_BCOP;
    assertIterations(this.niterBjorck, 'niterBjorck', where, 1);
    assertArg(this.kernelSize[0] % 2 === 1 && this.kernelSize[1] % 2 === 1, () => `${where}: 'kernelSize' must be odd, got ${JSON.stringify(this.kernelSize)}`);
  }

  /** Number of 2-tap blocks. */
  private blocks(): number {
    return this.kernelSize[0] - 1 + (this.kernelSize[1] - 1);
  }

  private rank(): number {
    return Math.floor(this.side / 2);
  }

  /** Pixels per space-to-depth block, `sh sw`. */
  private blockArea(): number {
    return this.strides[0] * this.strides[1];
  }

  /** True when the layer has a stride other than 1. */
  private strided(): boolean {
    return this.blockArea() > 1;
  }

  /** `[input, output]` channels of the convolution the layer applies (its adjoint swaps them). */
  protected convChannels(inputChannels: number): [number, number] {
    return [inputChannels, this.filters];
  }

  protected override kernelShape(inputShape: Shape): number[] {
    const [cin, cout] = this.convChannels(super.kernelShape(inputShape)[2]);
    const c = Math.max(this.blockArea() * cin, cout);
    return [c, c + this.blocks() * Math.floor(c / 2)];
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const [cin, cout] = this.convChannels(shape[3] as number);
    this.cin = cin;
    this.side = Math.max(this.blockArea() * cin, cout);
    this.convOut = cout;
    this.checkSpatial(shape);
    super.build(inputShape);
  }

  /** A strided layer needs input sizes that are multiples of the stride (space-to-depth blocks). */
  protected checkSpatial(shape: Shape): void {
    if (!this.strided()) return;
    const where = (this.constructor as unknown as { className: string }).className;
    for (const axis of [0, 1]) {
      const n = shape[axis + 1];
      assertArg(
        n === null || n === undefined || n % this.strides[axis] === 0,
        () => `${where}: the input size [${shape.slice(1, 3).join(', ')}] must be a multiple of 'strides' ${JSON.stringify(this.strides)}`,
      );
    }
  }

  /** The composed kernel's size `[kh sh, kw sw]`. */
  protected composedKernelSize(): [number, number] {
    return [this.kernelSize[0] * this.strides[0], this.kernelSize[1] * this.strides[1]];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    // coarse grid n / s, then 'valid' loses k - 1 pixels (the composed kernel's size is k s)
    return this.spatialOutputShape(inputShape, (n, k, s) => (this.padding === 'same' ? n / s : n / s - k + 1));
  }

  /** `[batch, size(h), size(w), filters]` with each axis's kernel size and stride; unknown sizes stay null. */
  protected spatialOutputShape(inputShape: Shape | Shape[], size: (n: number, k: number, s: number) => number): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const out = (n: number | null, k: number, s: number): number | null => (n === null ? null : size(n, k, s));
    return [shape[0], out(shape[1], this.kernelSize[0], this.strides[0]), out(shape[2], this.kernelSize[1], this.strides[1]), this.filters];
  }

  /** The plain twin's arguments: the composed kernel at the layer's strides and padding. */
  protected composedTwinArgs(): Parameters<typeof layers.conv2d>[0] {
    return {
      ...this.twinArgs(),
      filters: this.filters,
      kernelSize: this.composedKernelSize(),
      strides: this.strides,
      padding: this.padding,
      dataFormat: 'channelsLast',
    };
  }

  protected override plainTwin(): layers.Layer {
    return layers.conv2d(this.composedTwinArgs());
  }

  /** Nothing persistent to update: Björck runs in every call. */
  updateConstraints(): void {}

  /**
   * Orthonormalizes one factor. The generator is first divided by
   * sqrt(max row sum |G^T G|) >= its spectral norm, so Björck starts from
   * singular values in (0, 1] and each iterate stays a contraction.
   */
  private orthonormal(g: tf.Tensor2D, converge: boolean): tf.Tensor2D {
    if (converge) {
      return bjorckOrthonormalizeToConvergence(g, { tol: 1e-12, maxIter: 2000 }).w;
    }
    return tf.tidy(() => {
      const gram = tf.matMul(g, g, true, false);
      const bound = tf.sqrt(tf.add(tf.max(tf.sum(tf.abs(gram), 1)), 1e-12));
      return bjorckOrthonormalize(tf.div(g, bound) as tf.Tensor2D, this.niterBjorck, DEFAULT_BETA_BJORCK);
    });
  }

  /** The generator with each factor (`H`, then each `U_b`) replaced by its orthonormalized form. */
  protected override condensedKernel(): tf.Tensor {
    const c = this.side;
    const r = this.rank();
    const raw = this.rawKernel as tf.Tensor2D;
    return tf.tidy(() => {
      const factors = [this.orthonormal(tf.slice(raw, [0, 0], [c, c]), false)];
      for (let b = 0; b < this.blocks(); b++) factors.push(this.orthonormal(tf.slice(raw, [0, c + b * r], [c, r]), false));
      return tf.concat(factors, 1);
    });
  }

  protected normalizedKernel(converge: boolean): tf.Tensor {
    const c = this.side;
    const r = this.rank();
    const [kh, kw] = this.kernelSize;
    const raw = this.rawKernel as tf.Tensor2D;
    const compute = (): tf.Tensor => {
      const eye = tf.eye(c);
      const h = this.orthonormal(tf.slice(raw, [0, 0], [c, c]), converge);
      // kernel as [kh', kw', C, C], starting from the 1x1 H
      let k: tf.Tensor4D = tf.reshape(h, [1, 1, c, c]);
      for (let b = 0; b < this.blocks(); b++) {
        const u = this.orthonormal(tf.slice(raw, [0, c + b * r], [c, r]), converge);
        const p = tf.matMul(u, u, false, true);
        const q = tf.sub(eye, p);
        const horizontal = b < kw - 1;
        const [hh, ww] = k.shape;
        const flat = tf.reshape(k, [-1, c]);
        const kp = tf.reshape(tf.matMul(flat, p), [hh, ww, c, c]);
        const kq = tf.reshape(tf.matMul(flat, q), [hh, ww, c, c]);
        // (K * [P, I - P])[a, j] = K[a, j] P + K[a, j - 1] (I - P)
        k = horizontal
          ? tf.add(
              tf.pad(kp, [
                [0, 0],
                [0, 1],
                [0, 0],
                [0, 0],
              ]),
              tf.pad(kq, [
                [0, 0],
                [1, 0],
                [0, 0],
                [0, 0],
              ]),
            )
          : tf.add(
              tf.pad(kp, [
                [0, 1],
                [0, 0],
                [0, 0],
                [0, 0],
              ]),
              tf.pad(kq, [
                [1, 0],
                [0, 0],
                [0, 0],
                [0, 0],
              ]),
            );
      }
      const [sh, sw] = this.strides;
      const cin = this.cin;
      const bcop = tf.slice(k, [0, 0, 0, 0], [kh, kw, sh * sw * cin, this.convOut]);
      if (!this.strided()) return bcop;
      // K'[a sh + dy, b sw + dx, c, o] = K[a, b, (dy sw + dx) cin + c, o]
      const blocks = tf.reshape(bcop, [kh, kw, sh, sw, cin, this.convOut]);
      return tf.reshape(tf.transpose(blocks, [0, 2, 1, 3, 4, 5]), [kh * sh, kw * sw, cin, this.convOut]);
    };
    return tf.tidy(compute);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), niterBjorck: this.niterBjorck };
  }
}
tf.serialization.registerClass(OrthogonalConv2D);

/**
 * SDP-based Lipschitz layers (SLL; Araujo, Havens, Delattre, Allauzen and Hu
 * 2023, "A Unified Algebraic Perspective on Lipschitz Neural Networks"):
 * 1-Lipschitz residual layers
 *
 *     dense:  y = x - (relu(x W + b) * 2t) W^T              W [n, k]
 *     conv:   y = x - conv(relu(conv(x, K) + b) * 2t, K^T)   K [kh, kw, c, k]
 *
 * with t = T^(-1), T_i = sum_j |W^T W|_ij q_j / q_i and q = exp(q_raw)
 * trained with the layer (normalizers/sll.ts; for the conv, W^T W is the
 * conv's Gram). K^T is the adjoint convolution: the kernel flipped in space
 * with its channel axes swapped, 'same' padding (odd kernels, stride 1).
 * Why it is 1-Lipschitz: relu(u) - relu(u') = L (u - u') with L diagonal in
 * [0, 1], so y - y' = (I - M^T L M)(x - x') with M = (2 diag t)^(1/2) W^T,
 * and T >= W^T W gives ||M||^2 <= 2: the eigenvalues of I - M^T L M lie in
 * [-1, 1]. `lip bound` checks that inequality on the exported weights.
 *
 * Reference: araujoalexandre/Lipschitz-SLL-Networks, core/models/layers.py
 * (SDPBasedLipschitzLinearLayer, SDPBasedLipschitzConvLayer; commit
 * 1abe5e12e7fe0a9cfcb4cd9e141b0f1046bf4583): torch's weight `[k, n]` is our
 * W^T, `inner_dim` is `innerUnits` / `innerChannels`. Differences: the bias
 * starts at zero (the reference draws it uniformly); any odd kernel size
 * (the reference pads by 1, i.e. 3x3); and the conv layer's q weights the
 * Gram as in the paper and the dense layer (the reference conv's compute_t
 * multiplies by q_i^-1 q_i, so its q has no effect), starting at q_raw = 0,
 * where both give the same T.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initializers, layers, LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { assertArg } from '../errors';
import { sllConvScales, sllDenseScales } from '../normalizers/sll';
import { singleShape, singleTensor } from './linear_base';
import { assertPositiveInt, defaultLayerName, LipschitzLayer, normalizePair, normalizeSeed } from './lipschitz';

/** Arguments shared by the SLL layers. */
export interface SLLArgs extends LayerArgs {
  /** Add a bias to the inner layer (initialized to zero). Default true. */
  useBias?: boolean;
  /** Seed of the kernel and q initializations. Default: unseeded. */
  seed?: number | null;
}

/** What the exporter reads from an SLL layer (the caller owns the tensors). */
export interface SLLWeights {
  /** W `[n, k]` (dense) or K `[kh, kw, c, k]` (conv), tfjs layout. */
  kernel: tf.Tensor;
  /** b `[k]`, or null without bias. */
  bias: tf.Tensor1D | null;
  /** t = T^(-1) `[k]`, as `call()` computes it. */
  scales: tf.Tensor1D;
}

/** Kernel, bias and q of an SLL layer (`SLLDense`, `SLLConv2D`); subclasses give the two linear maps. */
export abstract class SLLBase extends layers.Layer implements LipschitzLayer {
  readonly isLipschitz = true as const;
  readonly useBias: boolean;
  readonly seed: number | undefined;
  protected kernel: LayerVariable | null = null;
  protected bias: LayerVariable | null = null;
  protected q: LayerVariable | null = null;

  constructor(args: SLLArgs, defaultNamePrefix: string) {
    super({ ...args, name: args.name ?? defaultLayerName(defaultNamePrefix) });
    const where = (this.constructor as unknown as { className: string }).className;
    this.useBias = args.useBias ?? true;
    assertArg(typeof this.useBias === 'boolean', () => `${where}: 'useBias' must be a boolean, got ${String(args.useBias)}`);
    this.seed = normalizeSeed(args.seed, where);
  }

  /** The inner size k. */
  protected abstract innerSize(inputShape: Shape): number;
  /** The kernel shape for this input shape. */
  protected abstract kernelShape(inputShape: Shape): number[];
  /** t from the kernel and q_raw. */
  protected abstract scalesOf(kernel: tf.Tensor, qRaw: tf.Tensor1D): tf.Tensor1D;
  /** The inner pre-activation `x -> x W` (or `conv(x, K)`), without bias. */
  protected abstract forwardMap(x: tf.Tensor, kernel: tf.Tensor): tf.Tensor;
  /** Its adjoint `u -> u W^T` (or `conv(u, K^T)`). */
  protected abstract adjointMap(u: tf.Tensor, kernel: tf.Tensor): tf.Tensor;

  /** The SLL layers are 1-Lipschitz (see the module comment). */
  lipschitzConstant(): number {
    return 1;
  }

  /** Adds W / K (normal, Xavier's variance as in the reference), the zero bias and q_raw (standard normal, or zeros for the conv). */
  protected addSLLWeights(inputShape: Shape): void {
    const shape = this.kernelShape(inputShape);
    const k = this.innerSize(inputShape);
    // Xavier normal: variance 2 / (fan_in + fan_out), the fans of torch's weight [k, n(, kh, kw)].
    const taps = shape.length === 4 ? shape[0] * shape[1] : 1;
    const stddev = Math.sqrt(2 / ((shape[shape.length - 2] + k) * taps));
    const seed = (offset: number): number | undefined => (this.seed === undefined ? undefined : this.seed + offset);
    this.kernel = this.addWeight('kernel', shape, 'float32', initializers.randomNormal({ mean: 0, stddev, seed: seed(0) }), undefined, true);
    if (this.useBias) this.bias = this.addWeight('bias', [k], 'float32', initializers.zeros(), undefined, true);
    const qInit = shape.length === 4 ? initializers.zeros() : initializers.randomNormal({ mean: 0, stddev: 1, seed: seed(1) });
    this.q = this.addWeight('q', [k], 'float32', qInit, undefined, true);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  /** `x - adjoint(relu(forward(x) + b) * 2t)`. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = singleTensor(inputs);
      const kernel = this.kernel!.read();
      const twoT = tf.mul(this.scalesOf(kernel, this.q!.read() as tf.Tensor1D), 2);
      const pre = this.forwardMap(x, kernel);
      const h = this.bias === null ? pre : tf.add(pre, this.bias.read());
      return tf.sub(x, this.adjointMap(tf.mul(tf.relu(h), twoT), kernel));
    });
  }

  /** Kernel, bias and t as `call()` uses them (copies the caller owns). */
  exportWeights(): SLLWeights {
    assertArg(this.kernel !== null && this.q !== null, () => `${this.name}: the layer is not built yet`);
    return {
      kernel: tf.clone(this.kernel.read()),
      bias: this.bias === null ? null : (tf.clone(this.bias.read()) as tf.Tensor1D),
      scales: this.scalesOf(this.kernel.read(), this.q.read() as tf.Tensor1D),
    };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), useBias: this.useBias, seed: this.seed ?? null };
  }
}

export interface SLLDenseArgs extends SLLArgs {
  /** Units k of the inner layer (reference `inner_dim`). Default: the input size. */
  innerUnits?: number;
}

/** Dense SLL layer on `[batch, n]` (reference `SDPBasedLipschitzLinearLayer`). */
export class SLLDense extends SLLBase {
  static className = 'Lip>SLLDense';
  readonly innerUnits: number | undefined;

  constructor(args: SLLDenseArgs = {}) {
    super(args, 'sll_dense');
    if (args.innerUnits !== undefined && args.innerUnits !== null) assertPositiveInt(args.innerUnits, 'innerUnits', SLLDense.className);
    this.innerUnits = args.innerUnits ?? undefined;
  }

  protected innerSize(inputShape: Shape): number {
    return this.innerUnits ?? (inputShape[1] as number);
  }

  protected kernelShape(inputShape: Shape): number[] {
    return [inputShape[1] as number, this.innerSize(inputShape)];
  }

  /** Adds W `[n, k]`, the bias and q_raw. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const n = shape[1];
    assertArg(
      shape.length === 2 && typeof n === 'number' && n > 0,
      () => `${this.name}: expected input [batch, features] with known features, got [${shape.join(', ')}] (flatten first)`,
    );
    this.addSLLWeights(shape);
    this.inputSpec = [{ ndim: 2, axes: { [-1]: n } }];
    this.built = true;
  }

  protected scalesOf(kernel: tf.Tensor, qRaw: tf.Tensor1D): tf.Tensor1D {
    return sllDenseScales(kernel as tf.Tensor2D, qRaw);
  }

  protected forwardMap(x: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
    return tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D);
  }

  protected adjointMap(u: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
    return tf.matMul(u as tf.Tensor2D, kernel as tf.Tensor2D, false, true);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), innerUnits: this.innerUnits ?? null };
  }
}
tf.serialization.registerClass(SLLDense);

export interface SLLConv2DArgs extends SLLArgs {
  /** Channels k of the inner convolution (reference `inner_dim`). Default: the input channels. */
  innerChannels?: number;
  /** Kernel height and width (odd), or one number for both. Default 3. */
  kernelSize?: number | [number, number];
}

/** Convolutional SLL layer, NHWC, 'same' padding, stride 1 (reference `SDPBasedLipschitzConvLayer`). */
export class SLLConv2D extends SLLBase {
  static className = 'Lip>SLLConv2D';
  readonly innerChannels: number | undefined;
  readonly kernelSize: [number, number];

  constructor(args: SLLConv2DArgs = {}) {
    super(args, 'sll_conv2d');
    if (args.innerChannels !== undefined && args.innerChannels !== null) assertPositiveInt(args.innerChannels, 'innerChannels', SLLConv2D.className);
    this.innerChannels = args.innerChannels ?? undefined;
    this.kernelSize = normalizePair(args.kernelSize ?? 3, 'kernelSize', SLLConv2D.className);
    assertArg(
      this.kernelSize.every((s) => s % 2 === 1),
      () => `${SLLConv2D.className}: 'kernelSize' must be odd (the adjoint of a 'same' convolution is one only then), got ${JSON.stringify(args.kernelSize)}`,
    );
  }

  protected innerSize(inputShape: Shape): number {
    return this.innerChannels ?? (inputShape[3] as number);
  }

  protected kernelShape(inputShape: Shape): number[] {
    return [this.kernelSize[0], this.kernelSize[1], inputShape[3] as number, this.innerSize(inputShape)];
  }

  /** Adds K `[kh, kw, c, k]`, the bias and q_raw. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const c = shape[3];
    assertArg(shape.length === 4 && typeof c === 'number' && c > 0, () => `${this.name}: expected NHWC input with known channels, got [${shape.join(', ')}]`);
    this.addSLLWeights(shape);
    this.inputSpec = [{ ndim: 4, axes: { [-1]: c } }];
    this.built = true;
  }

  protected scalesOf(kernel: tf.Tensor, qRaw: tf.Tensor1D): tf.Tensor1D {
    return sllConvScales(kernel as tf.Tensor4D, qRaw);
  }

  protected forwardMap(x: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
    return tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same');
  }

  protected adjointMap(u: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
    return tf.conv2d(u as tf.Tensor4D, adjointKernel(kernel as tf.Tensor4D), 1, 'same');
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), innerChannels: this.innerChannels ?? null, kernelSize: this.kernelSize };
  }
}
tf.serialization.registerClass(SLLConv2D);

/**
 * The kernel of the adjoint of a stride-1 'same' convolution with an odd
 * kernel `[kh, kw, cin, cout]`: flipped in space, channel axes swapped
 * (`[kh, kw, cout, cin]`).
 */
export function adjointKernel(kernel: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]));
}

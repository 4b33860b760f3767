/**
 * 1-Lipschitz poolings and the invertible down-sampling (deel-lip /
 * deel-torchlip). NHWC. The scaled poolings use non-overlapping windows
 * (`strides >= poolSize`, 'valid' padding): overlapping windows, or border
 * windows cut by padding, are not 1-Lipschitz once scaled by sqrt(k).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { invertibleDownSampling, scaledAvgPool2d, scaledGlobalL2NormPool2d, scaledL2NormPool2d } from '../functional';
import { assertArg } from '../errors';
import { LipschitzActivationBase } from './activations';
import { singleShape, singleTensor } from './linear_base';
import { normalizePair } from './lipschitz';

export interface ScaledPool2DArgs extends LayerArgs {
  /** Window height and width, or one number for both. Default 2. */
  poolSize?: number | [number, number];
  /** Strides, or one number for both; must be >= poolSize (no overlap). Default `poolSize`. */
  strides?: number | [number, number];
  /** Only 'valid' (a border window cut by padding would not be 1-Lipschitz). Default 'valid'. */
  padding?: 'valid';
}

/** Shared geometry of the two windowed poolings. */
abstract class ScaledPool2DBase extends LipschitzActivationBase {
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding = 'valid' as const;

  constructor(args: ScaledPool2DArgs, defaultNamePrefix: string) {
    super(args, defaultNamePrefix);
    const where = (this.constructor as unknown as { className: string }).className;
    this.poolSize = normalizePair(args.poolSize ?? 2, 'poolSize', where);
    this.strides = normalizePair(args.strides ?? this.poolSize, 'strides', where);
    assertArg(
      this.strides[0] >= this.poolSize[0] && this.strides[1] >= this.poolSize[1],
      () =>
        `${where}: 'strides' ${JSON.stringify(this.strides)} must be >= 'poolSize' ${JSON.stringify(this.poolSize)}: ` +
        'overlapping windows are not 1-Lipschitz',
    );
    assertArg(
      args.padding === undefined || args.padding === 'valid',
      () => `${where}: 'padding' must be 'valid' (padded border windows are not 1-Lipschitz), got ${JSON.stringify(args.padding)}`,
    );
    this.inputSpec = [{ ndim: 4 }];
  }

  /** No weights: checks that the input is NHWC and at least one window. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    assertArg(shape.length === 4, () => `${this.name}: expected NHWC input, got shape [${shape.join(', ')}]`);
    const [, h, w] = shape;
    assertArg(
      (h === null || h >= this.poolSize[0]) && (w === null || w >= this.poolSize[1]),
      () => `${this.name}: 'poolSize' ${JSON.stringify(this.poolSize)} is larger than the input [${h}, ${w}]`,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [b, h, w, c] = singleShape(inputShape);
    const out = (n: number | null, p: number, s: number) => (n === null ? null : Math.floor((n - p) / s) + 1);
    return [b, out(h, this.poolSize[0], this.strides[0]), out(w, this.poolSize[1], this.strides[1]), c];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }
}

/** `sqrt(sum x^2)` over each window: the L2 norm (deel-torchlip `ScaledL2NormPool2d`). */
export class ScaledL2NormPool2D extends ScaledPool2DBase {
  static className = 'Lip>ScaledL2NormPool2D';

  constructor(args: ScaledPool2DArgs = {}) {
    super(args, 'scaled_l2_norm_pool2d');
  }

  // build, computeOutputShape: ScaledPool2DBase.

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return scaledL2NormPool2d(singleTensor(inputs) as tf.Tensor4D, this.poolSize, this.strides);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(ScaledL2NormPool2D);

/** `sqrt(ph pw) * mean(x)` over each window (deel-torchlip `ScaledAvgPool2d`). */
export class ScaledAvgPool2D extends ScaledPool2DBase {
  static className = 'Lip>ScaledAvgPool2D';

  constructor(args: ScaledPool2DArgs = {}) {
    super(args, 'scaled_avg_pool2d');
  }

  // build, computeOutputShape: ScaledPool2DBase.

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return scaledAvgPool2d(singleTensor(inputs) as tf.Tensor4D, this.poolSize, this.strides);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(ScaledAvgPool2D);

export interface ScaledGlobalL2NormPool2DArgs extends LayerArgs {}

/** `[B, H, W, C] -> [B, C]`, the L2 norm of each channel (deel-torchlip `ScaledGlobalL2NormPool2d`). */
export class ScaledGlobalL2NormPool2D extends LipschitzActivationBase {
  static className = 'Lip>ScaledGlobalL2NormPool2D';

  constructor(args: ScaledGlobalL2NormPool2DArgs = {}) {
    super(args, 'scaled_global_l2_norm_pool2d');
    this.inputSpec = [{ ndim: 4 }];
  }

  /** No weights. */
  override build(inputShape: Shape | Shape[]): void {
    this.channels(inputShape);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    return [shape[0], shape[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return scaledGlobalL2NormPool2d(singleTensor(inputs) as tf.Tensor4D);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(ScaledGlobalL2NormPool2D);

export interface InvertibleDownSamplingArgs extends LayerArgs {
  /** Block height and width, or one number for both; must divide the input size. Default 2. */
  poolSize?: number | [number, number];
}

/**
 * Space-to-depth `[B, H, W, C] -> [B, H/ph, W/pw, ph pw C]`, a permutation of
 * the pixels (deel-lip `InvertibleDownSampling`); channel `(dy pw + dx) C + c`
 * holds pixel `(h ph + dy, w pw + dx)`, channel `c` (SpaceToDepth order).
 */
export class InvertibleDownSampling extends LipschitzActivationBase {
  static className = 'Lip>InvertibleDownSampling';
  readonly poolSize: [number, number];

  constructor(args: InvertibleDownSamplingArgs = {}) {
    super(args, 'invertible_down_sampling');
    this.poolSize = normalizePair(args.poolSize ?? 2, 'poolSize', InvertibleDownSampling.className);
    this.inputSpec = [{ ndim: 4 }];
  }

  /** No weights: checks that the pool size divides the input size. */
  override build(inputShape: Shape | Shape[]): void {
    const [, h, w] = singleShape(inputShape);
    this.channels(inputShape);
    assertArg(
      (h === null || h % this.poolSize[0] === 0) && (w === null || w % this.poolSize[1] === 0),
      () => `${this.name}: the input size [${h}, ${w}] must be a multiple of 'poolSize' ${JSON.stringify(this.poolSize)}`,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [b, h, w, c] = singleShape(inputShape);
    const [ph, pw] = this.poolSize;
    return [b, h === null ? null : h / ph, w === null ? null : w / pw, c === null ? null : c * ph * pw];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return invertibleDownSampling(singleTensor(inputs) as tf.Tensor4D, this.poolSize);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), poolSize: this.poolSize };
  }
}
tf.serialization.registerClass(InvertibleDownSampling);

/**
 * 1-Lipschitz centering layers, the Lipschitz substitutes of batch and layer
 * normalization (deel-torchlip `BatchCentering` and `LayerCentering`, issue 47;
 * deel-ai/deel-torchlip, deel/torchlip/modules/normalization.py). Channels are
 * the last axis.
 *
 *   LayerCentering   y = x - mean_axes(x) + b     per sample: the projection
 *                                                  I - 11^T/n on each group of n
 *                                                  averaged values, norm 1
 *   BatchCentering   y = x - mu + b               mu = the batch mean per channel
 *                                                  in training, the running mean at
 *                                                  inference: a translation
 */
import * as tf from '@tensorflow/tfjs-core';
import { initializers, layers, LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { assertArg } from '../errors';
import { singleShape, singleTensor } from './linear_base';
import { defaultLayerName, LipschitzLayer } from './lipschitz';

/** deel-torchlip `BatchCentering(momentum=0.05)` (deel-ai/deel-torchlip at 279fb5f6168e401af73a4e026160846b8f2f48ab). */
export const DEFAULT_CENTERING_MOMENTUM = 0.05;

/** The last (channel) dimension of `shape`, checked to be known. */
function channelsOf(name: string, shape: Shape): number {
  const c = shape[shape.length - 1];
  assertArg(
    typeof c === 'number' && c > 0,
    () => `${name}: the channel dimension (last axis) must be known, got input shape [${shape.map(String).join(', ')}]`,
  );
  return c;
}

function assertUseBias(useBias: unknown, where: string): asserts useBias is boolean {
  assertArg(typeof useBias === 'boolean', () => `${where}: 'useBias' must be a boolean, got ${String(useBias)}`);
}

export interface LayerCenteringArgs extends LayerArgs {
  /**
   * Axes averaged per sample (0 is the batch and is not allowed; negative counts from the end).
   * Default: the spatial axes [1, 2] of an [N, H, W, C] input (deel-torchlip's `dim=(-2, -1)` on
   * NCHW), the features [-1] of an [N, F] input.
   */
  axis?: number | number[];
  /** Add a learnable bias per channel (last axis), initialized to zero. Default true. */
  useBias?: boolean;
}

/** `x - mean(x over axis) + bias`, per sample (deel-torchlip `LayerCentering`): 1-Lipschitz. */
export class LayerCentering extends layers.Layer implements LipschitzLayer {
  static className = 'Lip>LayerCentering';
  readonly isLipschitz = true as const;
  readonly useBias: boolean;
  /** The axis option as given (null: the default for the input rank). */
  readonly axisOption: number[] | null;
  /** The averaged axes, non-negative, sorted; set by `build`. */
  axes: number[] = [];
  private bias: LayerVariable | null = null;

  constructor(args: LayerCenteringArgs = {}) {
    super({ ...args, name: args.name ?? defaultLayerName('layer_centering') });
    const where = LayerCentering.className;
    this.useBias = args.useBias ?? true;
    assertUseBias(this.useBias, where);
    const axis = args.axis === undefined || args.axis === null ? null : typeof args.axis === 'number' ? [args.axis] : args.axis;
    assertArg(
      axis === null || (Array.isArray(axis) && axis.length > 0 && axis.every((a) => Number.isInteger(a) && a !== 0)),
      () => `${where}: 'axis' must be a nonzero integer or a non-empty array of them (axis 0 is the batch), got ${JSON.stringify(args.axis)}`,
    );
    this.axisOption = axis === null ? null : [...axis];
  }

  lipschitzConstant(): number {
    return 1;
  }

  /** Resolves the axes for this input rank and adds the bias. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const rank = shape.length;
    const requested = this.axisOption ?? (rank === 4 ? [1, 2] : [-1]);
    const axes = requested.map((a) => (a < 0 ? rank + a : a));
    assertArg(
      axes.every((a) => a >= 1 && a < rank) && new Set(axes).size === axes.length,
      () => `${this.name}: 'axis' ${JSON.stringify(requested)} must name distinct non-batch axes of the input [${shape.map(String).join(', ')}]`,
    );
    for (const a of axes) {
      assertArg(typeof shape[a] === 'number', () => `${this.name}: averaged axis ${a} of the input [${shape.map(String).join(', ')}] must be known`);
    }
    this.axes = [...axes].sort((p, q) => p - q);
    if (this.useBias) this.bias = this.addWeight('bias', [channelsOf(this.name, shape)], 'float32', initializers.zeros(), undefined, true);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = singleTensor(inputs);
      const centered = tf.sub(x, tf.mean(x, this.axes, true));
      return this.bias === null ? centered : tf.add(centered, this.bias.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axisOption, useBias: this.useBias };
  }
}
tf.serialization.registerClass(LayerCentering);

export interface BatchCenteringArgs extends LayerArgs {
  /** Weight of a training batch's mean in the running mean (the first batch sets it). Default DEFAULT_CENTERING_MOMENTUM (0.05). */
  momentum?: number;
  /** Add a learnable bias per channel (last axis), initialized to zero. Default true. */
  useBias?: boolean;
}

/**
 * `x - mu + bias` with mu the mean per channel (last axis) over the batch and
 * the other axes in training, and the running mean at inference (deel-torchlip
 * `BatchCentering`, momentum form): at inference a translation, 1-Lipschitz.
 *
 * Running mean: the first training batch sets it, then
 * `running <- (1 - momentum) running + momentum mean`. A training step split
 * into chunks (or shards) centers each chunk by its own mean, as
 * data-parallel torch does without synchronized statistics, and updates the
 * running mean once per chunk. `train()` runs such a model without worker
 * threads (`usesBatchStatistics`): a worker's running-mean update would not
 * reach the model.
 */
export class BatchCentering extends layers.Layer implements LipschitzLayer {
  static className = 'Lip>BatchCentering';
  readonly isLipschitz = true as const;
  /** Training calls update non-trainable state from the batch (see the class doc). */
  readonly usesBatchStatistics = true as const;
  readonly momentum: number;
  readonly useBias: boolean;
  private bias: LayerVariable | null = null;
  private runningMean: LayerVariable | null = null;
  /** Training batches seen (a float scalar: 0 until the first one). */
  private batchesSeen: LayerVariable | null = null;

  constructor(args: BatchCenteringArgs = {}) {
    super({ ...args, name: args.name ?? defaultLayerName('batch_centering') });
    const where = BatchCentering.className;
    this.momentum = args.momentum ?? DEFAULT_CENTERING_MOMENTUM;
    assertArg(
      typeof this.momentum === 'number' && this.momentum > 0 && this.momentum <= 1,
      () => `${where}: 'momentum' must be a number in (0, 1], got ${String(args.momentum)}`,
    );
    this.useBias = args.useBias ?? true;
    assertUseBias(this.useBias, where);
  }

  lipschitzConstant(): number {
    return 1;
  }

  /** Adds the bias (trainable), the running mean and the batch count (not trainable), all zero. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    assertArg(shape.length >= 2, () => `${this.name}: expected a batch of [..., C] values, got input shape [${shape.map(String).join(', ')}]`);
    const c = channelsOf(this.name, shape);
    if (this.useBias) this.bias = this.addWeight('bias', [c], 'float32', initializers.zeros(), undefined, true);
    this.runningMean = this.addWeight('running_mean', [c], 'float32', initializers.zeros(), undefined, false);
    this.batchesSeen = this.addWeight('batches_seen', [], 'float32', initializers.zeros(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  /** The running mean, a copy the caller owns. */
  movingMean(): tf.Tensor1D {
    assertArg(this.runningMean !== null, () => `${this.name}: the layer is not built yet`);
    return tf.clone(this.runningMean.read()) as tf.Tensor1D;
  }

  /** `bias - running mean`: what the layer adds at inference (a copy the caller owns). */
  inferenceShift(): tf.Tensor1D {
    assertArg(this.runningMean !== null, () => `${this.name}: the layer is not built yet`);
    return tf.tidy(() => {
      const shift = tf.neg(this.runningMean!.read());
      return (this.bias === null ? shift : tf.add(shift, this.bias.read())) as tf.Tensor1D;
    });
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = singleTensor(inputs);
      let mean: tf.Tensor;
      if (kwargs?.['training'] === true) {
        mean = tf.mean(
          x,
          Array.from({ length: x.rank - 1 }, (_, i) => i),
        );
        this.updateRunningMean(mean);
      } else {
        mean = this.runningMean!.read();
      }
      const centered = tf.sub(x, mean);
      return this.bias === null ? centered : tf.add(centered, this.bias.read());
    });
  }

  /** running <- running + w (mean - running), w = 1 for the first batch, else momentum (an assignment: no gradient flows). */
  private updateRunningMean(mean: tf.Tensor): void {
    const running = this.runningMean!;
    const seen = this.batchesSeen!;
    tf.tidy(() => {
      const first = tf.cast(tf.equal(seen.read(), 0), 'float32');
      const w = tf.add(tf.mul(first, 1 - this.momentum), this.momentum);
      const old = running.read();
      running.write(tf.add(old, tf.mul(w, tf.sub(mean, old))));
      seen.write(tf.add(seen.read(), 1));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), momentum: this.momentum, useBias: this.useBias };
  }
}
tf.serialization.registerClass(BatchCentering);

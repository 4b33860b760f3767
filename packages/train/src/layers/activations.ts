/**
 * Gradient-norm-preserving activations (Anil et al. 2019, "Sorting out
 * Lipschitz function approximation"): the GroupSort family and MaxMin. Each
 * output is a permutation (GroupSort) or a norm-preserving split (MaxMin) of
 * the input, so every layer here is 1-Lipschitz. Channels are the last axis.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layers, Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { fullSort, groupSort, groupSort2, maxMin } from '../functional';
import { assertArg } from '../errors';
import { singleShape, singleTensor } from './linear_base';
import { assertPositiveInt, defaultLayerName, LipschitzLayer } from './lipschitz';

/** A weightless 1-Lipschitz layer. */
export abstract class LipschitzActivationBase extends layers.Layer implements LipschitzLayer {
  readonly isLipschitz = true as const;

  constructor(args: LayerArgs, defaultNamePrefix: string) {
    super({ ...args, name: args.name ?? defaultLayerName(defaultNamePrefix) });
  }

  lipschitzConstant(): number {
    return 1;
  }

  /** Channels of the input (last axis), checked to be known. */
  protected channels(inputShape: Shape | Shape[]): number {
    const shape = singleShape(inputShape);
    const c = shape[shape.length - 1];
    assertArg(typeof c === 'number' && c > 0, () => `${this.name}: the channel dimension (last axis) must be known, got input shape [${shape.join(', ')}]`);
    return c;
  }
}

export interface GroupSortArgs extends LayerArgs {
  /** Group size: sorts each group of `n` consecutive channels ascending; must divide the channel count (required). */
  n: number;
}

/** GroupSort(n) (deel-torchlip `GroupSort`). `n = 2` uses the fast pair form. */
export class GroupSort extends LipschitzActivationBase {
  static className = 'Lip>GroupSort';
  readonly n: number;

  constructor(args: GroupSortArgs) {
    super(args, 'group_sort');
    assertPositiveInt(args.n, 'n', GroupSort.className);
    this.n = args.n;
  }

  /** No weights: checks that `n` divides the channel count. */
  override build(inputShape: Shape | Shape[]): void {
    const c = this.channels(inputShape);
    assertArg(c % this.n === 0, () => `${this.name}: 'n' = ${this.n} must divide the channel count ${c}`);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return groupSort(singleTensor(inputs), this.n);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), n: this.n };
  }
}
tf.serialization.registerClass(GroupSort);

export interface GroupSort2Args extends LayerArgs {}

/** GroupSort with pairs: `(a, b) -> (min, max)` (deel-torchlip `GroupSort2`), fast form. */
export class GroupSort2 extends LipschitzActivationBase {
  static className = 'Lip>GroupSort2';

  constructor(args: GroupSort2Args = {}) {
    super(args, 'group_sort2');
  }

  /** No weights: checks that the channel count is even. */
  override build(inputShape: Shape | Shape[]): void {
    const c = this.channels(inputShape);
    assertArg(c % 2 === 0, () => `${this.name}: the channel count must be even, got ${c}`);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return groupSort2(singleTensor(inputs));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(GroupSort2);

export interface FullSortArgs extends LayerArgs {}

/** Sorts all channels ascending (deel-torchlip `FullSort`). */
export class FullSort extends LipschitzActivationBase {
  static className = 'Lip>FullSort';

  constructor(args: FullSortArgs = {}) {
    super(args, 'full_sort');
  }

  /** No weights. */
  override build(inputShape: Shape | Shape[]): void {
    this.channels(inputShape);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return fullSort(singleTensor(inputs));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(FullSort);

export interface MaxMinArgs extends LayerArgs {}

/** `concat(relu(x), relu(-x))` on the channels: C -> 2C (deel-torchlip `MaxMin`). */
export class MaxMin extends LipschitzActivationBase {
  static className = 'Lip>MaxMin';

  constructor(args: MaxMinArgs = {}) {
    super(args, 'max_min');
  }

  /** No weights. */
  override build(inputShape: Shape | Shape[]): void {
    this.channels(inputShape);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape).slice();
    const c = shape[shape.length - 1];
    shape[shape.length - 1] = c === null ? null : 2 * c;
    return shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return maxMin(singleTensor(inputs));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig() };
  }
}
tf.serialization.registerClass(MaxMin);

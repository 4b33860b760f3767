/**
 * Householder activation (Singla, Singla & Feizi 2022, "Improved deterministic
 * l2 robustness on CIFAR-10 and CIFAR-100"; deel-lip `Householder`,
 * deel/lip/layers/activations.py at 0d1cdae371ea6784d500461acad30437c841d4d4,
 * and deel-torchlip `HouseHolder`, deel/torchlip/modules/activation.py at
 * a47769711772f213e77d9843b2456dc0129e1060). The channels (last axis) are split
 * in halves z = (z1, z2), and each pair (z1_i, z2_i) has a learned angle theta_i:
 *
 *   v = (sin(theta/2), -cos(theta/2))
 *   h(z) = z                  if <z, v> <= 0
 *          (I - 2 v v^T) z    otherwise
 *        = z - 2 v relu(<z, v>)
 *
 * (the references write the reflection as (z1 cos theta + z2 sin theta,
 * z1 sin theta - z2 cos theta)). Each piece is orthogonal and h is continuous,
 * so h is 1-Lipschitz and preserves gradient norms. theta = pi/2 (the default)
 * gives (min(z1, z2), max(z1, z2)): GroupSort2 on the halves.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initializers, layers, LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { assertArg } from '../errors';
import { singleShape, singleTensor } from './linear_base';
import { defaultLayerName, LipschitzLayer } from './lipschitz';

/** The references' initial angle: h is then GroupSort2 on the halves. */
export const DEFAULT_HOUSEHOLDER_THETA = Math.PI / 2;

export interface HouseholderArgs extends LayerArgs {
  /** Initial angle theta of every pair, in radians. Default DEFAULT_HOUSEHOLDER_THETA (pi/2). */
  theta?: number;
}

/** Householder reflection on channel pairs (i, i + C/2), with a learned angle per pair. */
export class Householder extends layers.Layer implements LipschitzLayer {
  static className = 'Lip>Householder';
  readonly isLipschitz = true as const;
  readonly initialTheta: number;
  private thetaWeight: LayerVariable | null = null;

  constructor(args: HouseholderArgs = {}) {
    super({ ...args, name: args.name ?? defaultLayerName('householder') });
    this.initialTheta = args.theta ?? DEFAULT_HOUSEHOLDER_THETA;
    assertArg(
      typeof this.initialTheta === 'number' && Number.isFinite(this.initialTheta),
      () => `${Householder.className}: 'theta' must be a finite number (radians), got ${String(args.theta)}`,
    );
  }

  lipschitzConstant(): number {
    return 1;
  }

  /** Adds theta `[C/2]`; the channel count C must be even. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const c = shape[shape.length - 1];
    assertArg(
      typeof c === 'number' && c > 0 && c % 2 === 0,
      () => `${this.name}: the channel count (last axis) must be known and even, got input shape [${shape.map(String).join(', ')}]`,
    );
    this.thetaWeight = this.addWeight('theta', [c / 2], 'float32', initializers.constant({ value: this.initialTheta }), undefined, true);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  /** A copy of the angles `[C/2]` (the caller owns it). */
  theta(): tf.Tensor1D {
    assertArg(this.thetaWeight !== null, () => `${this.name}: the layer is not built yet`);
    return tf.clone(this.thetaWeight.read()) as tf.Tensor1D;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const z = singleTensor(inputs);
      const [z1, z2] = tf.split(z, 2, -1);
      const half = tf.mul(this.thetaWeight!.read(), 0.5);
      const s = tf.sin(half);
      const c = tf.cos(half);
      // r = relu(<z, v>); h(z) = (z1 - 2 s r, z2 + 2 c r).
      const r = tf.relu(tf.sub(tf.mul(z1, s), tf.mul(z2, c)));
      return tf.concat([tf.sub(z1, tf.mul(r, tf.mul(s, 2))), tf.add(z2, tf.mul(r, tf.mul(c, 2)))], -1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), theta: this.initialTheta };
  }
}
tf.serialization.registerClass(Householder);

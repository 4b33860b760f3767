/**
 * A 1-Lipschitz residual connection that holds its block (deel-torchlip
 * `LipResidual`, deel-ai/deel-torchlip PR 23, deel/torchlip/modules/residual.py
 * at commit ccdc26172e59af75f0ecf424576987dd1b1c3164):
 *
 *     y = alpha x + (1 - alpha) f(x),   alpha = sigmoid(a) in (0, 1)
 *
 * with a trainable a starting at 0 (alpha = 1/2), or a fixed alpha in [0, 1].
 * f is a sequence of Lipschitz layers that keeps the shape of its input, so
 * the layer is (alpha + (1 - alpha) L_f)-Lipschitz: 1 when f is. The
 * reference's module takes x and f(x) as two inputs; here the layer applies f
 * itself, so a model stays a chain of layers (one Keras layer, exported as
 * f's nodes, two Mul and an Add).
 *
 * The inner layers are built under this layer's name scope (their weights
 * are `<this>/<inner>/kernel`, ...), are part of this layer's weights (so
 * `fit`, checkpoints and the data-parallel workers see them), and are listed
 * in `layers`, where `LipschitzSequential.updateConstraints()` and the
 * callbacks find the dense/conv ones.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initializers, input, layers, LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { assertArg, InvalidArgumentError, ModelError } from '../errors';
import { singleShape, singleTensor } from './linear_base';
import { defaultLayerName, isLipschitzLayer, LipschitzLayer } from './lipschitz';

export interface LipResidualArgs extends LayerArgs {
  /** The block f, applied in order: Lipschitz layers whose output has the input's shape (required, at least one). */
  layers: layers.Layer[];
  /** A fixed alpha in [0, 1]. Default null: learned, alpha = sigmoid(a) with a trainable a starting at 0. */
  alpha?: number | null;
}

export class LipResidual extends layers.Layer implements LipschitzLayer {
  static className = 'Lip>LipResidual';
  readonly isLipschitz = true as const;
  /** The block f, in order. */
  readonly layers: layers.Layer[];
  /** The fixed alpha, or null when alpha is learned. */
  readonly fixedAlpha: number | null;
  private rawAlpha: LayerVariable | null = null;

  constructor(args: LipResidualArgs) {
    super({ ...args, name: args.name ?? defaultLayerName('lip_residual') });
    const where = LipResidual.className;
    const inner = args.layers;
    assertArg(
      Array.isArray(inner) && inner.length > 0 && inner.every((l) => l instanceof layers.Layer),
      () => `${where}: 'layers' must be a non-empty array of layers (the block f), got ${describe(inner)}`,
    );
    const bad = inner.find((l) => !isLipschitzLayer(l));
    if (bad !== undefined) {
      throw new InvalidArgumentError(
        `${where}: 'layers' holds '${bad.name}' (${bad.getClassName()}), which is not a Lipschitz layer: ` +
          'the block must be built from @lip/train layers (lipLayers.*) for the residual to stay 1-Lipschitz',
      );
    }
    const alpha = args.alpha ?? null;
    assertArg(
      alpha === null || (typeof alpha === 'number' && alpha >= 0 && alpha <= 1),
      () => `${where}: 'alpha' must be a number in [0, 1] or null (learned), got ${String(args.alpha)}`,
    );
    this.layers = inner;
    this.fixedAlpha = alpha;
  }

  /**
   * Builds the block under this layer's name scope (a symbolic call of each
   * inner layer, which scopes its weights by its name), checks that it keeps
   * the shape, then adds a (when learned).
   */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    let y = input({ batchShape: shape });
    for (const layer of this.layers) {
      const out = layer.apply(y);
      if (Array.isArray(out)) throw new ModelError(`${this.name}: inner layer '${layer.name}' has several outputs`);
      y = out as typeof y;
    }
    assertArg(
      y.shape.length === shape.length && y.shape.every((d, i) => i === 0 || d === shape[i]),
      () =>
        `${this.name}: the block maps [${shape.map(String).join(', ')}] to [${y.shape.map(String).join(', ')}]; a residual block must keep the shape of its input`,
    );
    if (this.fixedAlpha === null) this.rawAlpha = this.addWeight('alpha', [], 'float32', initializers.zeros(), undefined, true);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  /** alpha as a scalar tensor: the fixed value, or sigmoid(a). */
  alpha(): tf.Scalar {
    if (this.fixedAlpha !== null) return tf.scalar(this.fixedAlpha);
    assertArg(this.rawAlpha !== null, () => `${this.name}: the layer is not built yet`);
    return tf.tidy(() => tf.sigmoid(this.rawAlpha!.read()) as tf.Scalar);
  }

  /** alpha as a number (float32, as `call()` uses it). */
  alphaValue(): number {
    const a = this.alpha();
    const v = a.dataSync()[0];
    a.dispose();
    return v;
  }

  /** `alpha x + (1 - alpha) f(x)`; the inner layers get the same kwargs (training). */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = singleTensor(inputs);
      let y = x;
      for (const layer of this.layers) y = singleTensor(layer.call(y, kwargs) as tf.Tensor | tf.Tensor[]);
      const a = this.alpha();
      return tf.add(tf.mul(a, x), tf.mul(tf.sub(1, a), y));
    });
  }

  /** The Lipschitz constant of f: the product of its layers' constants. */
  blockLipschitzConstant(): number {
    return this.layers.reduce((k, l) => k * (l as layers.Layer & LipschitzLayer).lipschitzConstant(), 1);
  }

  /** alpha + (1 - alpha) L_f: 1 when f is 1-Lipschitz. */
  lipschitzConstant(): number {
    const lf = this.blockLipschitzConstant();
    if (lf === 1) return 1;
    const a = this.fixedAlpha ?? this.alphaValue();
    return a + (1 - a) * lf;
  }

  override get trainableWeights(): LayerVariable[] {
    if (!this.trainable) return [];
    const own = this.rawAlpha === null ? [] : [this.rawAlpha];
    return [...own, ...this.layers.flatMap((l) => l.trainableWeights)];
  }

  override get nonTrainableWeights(): LayerVariable[] {
    const inner = this.layers.flatMap((l) => l.nonTrainableWeights);
    if (this.trainable) return inner;
    return [...(this.rawAlpha === null ? [] : [this.rawAlpha]), ...this.layers.flatMap((l) => l.trainableWeights), ...inner];
  }

  override setFastWeightInitDuringBuild(value: boolean): void {
    super.setFastWeightInitDuringBuild(value);
    for (const layer of this.layers) layer.setFastWeightInitDuringBuild(value);
  }

  /** Frees the inner layers' frozen kernels, then every weight (this layer's getters include the inner ones). */
  override dispose(): ReturnType<layers.Layer['dispose']> {
    for (const layer of this.layers) (layer as { unfreezeEffectiveKernel?: () => void }).unfreezeEffectiveKernel?.();
    return super.dispose();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      alpha: this.fixedAlpha,
      layers: this.layers.map((l) => ({ className: l.getClassName(), config: l.getConfig() })),
    };
  }

  /** Rebuilds the inner layers from their `{className, config}` entries (tfjs' serialization registry). */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const entries = config['layers'];
    if (!Array.isArray(entries)) throw new ModelError(`${LipResidual.className}: the layer config has no 'layers' array`);
    const inner = entries.map((entry) => deserializeLayer(entry as tf.serialization.ConfigDict));
    return new (cls as unknown as new (a: LipResidualArgs) => T)({ ...(config as unknown as LipResidualArgs), layers: inner });
  }
}
tf.serialization.registerClass(LipResidual);

/** A layer from `{className, config}`, looked up in the tfjs serialization registry. */
function deserializeLayer(entry: tf.serialization.ConfigDict): layers.Layer {
  const className = entry['className'];
  const config = entry['config'];
  if (typeof className !== 'string' || config == null || typeof config !== 'object') {
    throw new ModelError(`${LipResidual.className}: bad inner layer entry ${JSON.stringify(entry)}`);
  }
  const found = tf.serialization.SerializationMap.getMap().classNameMap[className] as unknown as
    [tf.serialization.SerializableConstructor<layers.Layer>, tf.serialization.FromConfigMethod<layers.Layer>] | undefined;
  if (found === undefined) {
    throw new ModelError(`${LipResidual.className}: unknown inner layer class '${className}' (is the module that registers it imported?)`);
  }
  return found[1](found[0], config as tf.serialization.ConfigDict);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}${v.length > 0 ? ' (not all layers)' : ''}`;
  return v === null ? 'null' : typeof v;
}

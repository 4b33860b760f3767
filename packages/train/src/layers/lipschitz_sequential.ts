/**
 * A `tf.Sequential` that owns the Lipschitz constant of the whole network
 * (deel-torchlip `Sequential`): with `kCoefLip = k` and n reparametrized
 * dense/conv layers, each of them gets `k^(1/n)`, so the product of the layer
 * constants is k. Activations and poolings are 1-Lipschitz and take no share.
 * It warns about every layer that is not a Lipschitz layer, as the reference
 * does ("Sequential model contains a layer which is not a Lipschitz layer"),
 * when the model is built, except the tfjs layers that only rearrange values
 * (Flatten, Reshape, Permute, InputLayer): they are isometries, so the warning
 * would be wrong and the user could do nothing about it. A model loaded from a
 * file (`fromConfig`) was warned about when it was built and loads silently.
 */
import * as tf from '@tensorflow/tfjs-core';
import { History, layers, ModelFitArgs, ModelFitDatasetArgs, Sequential } from '@tensorflow/tfjs-layers';
import type { Dataset as TfDataset } from '@tensorflow/tfjs-layers/dist/engine/dataset_stub';
import { lipschitzLinearLayersOf } from '../callbacks/lipschitz_layers';
import { StopOnNonFiniteLoss } from '../callbacks/non_finite_loss';
import { standardizeCallbacks } from '../callbacks/standardize';
import { InvalidArgumentError, ModelError, assertArg } from '../errors';
import { assertKCoefLip, isLipschitzLayer, isLipschitzLinear, LipschitzLinear, VanillaExportOptions } from './lipschitz';

/** Where the warnings go. */
export interface LipLogger {
  warn(message: string): void;
}

/** tfjs built-ins that only move values around (L2 isometries): constant 1, no warning. */
const REARRANGING_LAYERS: ReadonlySet<string> = new Set(['Flatten', 'Reshape', 'Permute', 'InputLayer']);

export interface LipschitzSequentialArgs {
  /** Layers, in order. Default none (use `add`). */
  layers?: layers.Layer[];
  /** Model name. Default `lipschitz_sequential_<n>`. */
  name?: string;
  /** Lipschitz constant of the whole network, split evenly (geometrically) over the dense/conv layers. Default 1. */
  kCoefLip?: number;
  /** Receives the warnings about non-Lipschitz layers. Default `LipschitzSequential.defaultLogger` (console). */
  logger?: LipLogger;
  /**
   * Warn about the non-Lipschitz layers among `layers`. Default true; false
   * when rebuilding a saved model (`fromConfig`). Layers passed to `add` later
   * are always checked.
   */
  warnNonLipschitz?: boolean;
}

let modelCounter = 0;

export class LipschitzSequential extends Sequential {
  static override className = 'Lip>LipschitzSequential';
  /** Logger used when none is passed (also by models loaded from files). */
  static defaultLogger: LipLogger = console;
  private kCoefLipTotal: number;
  private readonly logger: LipLogger;

  constructor(args: LipschitzSequentialArgs = {}) {
    super({ name: args.name ?? `lipschitz_sequential_${++modelCounter}` });
    const k = args.kCoefLip ?? 1;
    assertKCoefLip(k, LipschitzSequential.className);
    this.kCoefLipTotal = k;
    this.logger = args.logger ?? LipschitzSequential.defaultLogger;
    const initial = args.layers ?? [];
    // Every layer must agree with the final share, so check against the full count.
    const share = Math.pow(k, 1 / Math.max(1, initial.filter(isLipschitzLinear).length));
    for (const layer of initial) this.addChecked(layer, share, args.warnNonLipschitz ?? true);
    this.distributeKCoefLip();
  }

  /** The network's Lipschitz constant k (each dense/conv layer applies k^(1/n)). */
  get kCoefLip(): number {
    return this.kCoefLipTotal;
  }

  /** Changes k and redistributes it over the dense/conv layers. */
  setKCoefLip(k: number): void {
    assertKCoefLip(k, `${this.name}.setKCoefLip`);
    this.kCoefLipTotal = k;
    this.distributeKCoefLip();
  }

  /** The reparametrized dense/conv layers. */
  lipschitzLinearLayers(): (layers.Layer & LipschitzLinear)[] {
    return this.layers.filter(isLipschitzLinear);
  }

  /**
   * Adds a layer and redistributes k. A dense/conv Lipschitz layer must come
   * with the default kCoefLip (1) or already carry its share: the model sets
   * the constants, and a layer's own value is not silently overridden.
   */
  override add(layer: layers.Layer): void {
    const n = this.lipschitzLinearLayers().length + (isLipschitzLinear(layer) ? 1 : 0);
    this.addChecked(layer, Math.pow(this.kCoefLipTotal, 1 / Math.max(1, n)), true);
    this.distributeKCoefLip();
  }

  private addChecked(layer: layers.Layer, share: number, warn: boolean): void {
    if (isLipschitzLinear(layer) && layer.kCoefLip !== 1 && Math.abs(layer.kCoefLip - share) > 1e-9 * share) {
      throw new InvalidArgumentError(
        `${LipschitzSequential.className}: layer '${layer.name}' has kCoefLip=${layer.kCoefLip}, but the model ` +
          `gives each of its dense/conv layers ${share} (kCoefLip=${this.kCoefLipTotal}); ` +
          `set 'kCoefLip' on the model, not on its layers`,
      );
    }
    super.add(layer);
    if (warn && !isLipschitzLayer(layer) && !REARRANGING_LAYERS.has(layer.getClassName())) {
      this.logger.warn(`Sequential model contains a layer which is not a Lipschitz layer: ${layer.name}`);
    }
  }

  private distributeKCoefLip(): void {
    const linear = this.lipschitzLinearLayers();
    const share = Math.pow(this.kCoefLipTotal, 1 / Math.max(1, linear.length));
    for (const layer of linear) layer.setKCoefLip(share);
  }

  /**
   * Power iteration on every layer's persistent vectors, outside any gradient
   * tape. Training needs no explicit call: each layer runs it in `call()`
   * with `training: true` (constraint_updates.ts).
   */
  updateConstraints(niter?: number): void {
    // Nested ones too (a LipResidual's block): callers that hold the constraints update them only here.
    for (const layer of lipschitzLinearLayersOf(this)) layer.updateConstraints(niter);
  }

  /** `condense()` on every dense/conv layer, nested ones included (`CondenseCallback` does it between epochs). */
  condense(): void {
    for (const layer of lipschitzLinearLayersOf(this)) layer.condense();
  }

  /**
   * tfjs-layers' `fit`, with `StopOnNonFiniteLoss` added after the given
   * callbacks: a NaN or infinite loss rejects with a `NonFiniteLossError`
   * naming the epoch and batch instead of training on.
   */
  override fit(
    x: tf.Tensor | tf.Tensor[] | { [inputName: string]: tf.Tensor },
    y: tf.Tensor | tf.Tensor[] | { [inputName: string]: tf.Tensor },
    args: ModelFitArgs = {},
  ): Promise<History> {
    return super.fit(x, y, { ...args, callbacks: [...standardizeCallbacks(args.callbacks, args.yieldEvery), new StopOnNonFiniteLoss()] });
  }

  /** tfjs-layers' `fitDataset`, with `StopOnNonFiniteLoss` added (see `fit`). */
  override fitDataset<T>(dataset: TfDataset<T>, args: ModelFitDatasetArgs<T>): Promise<History> {
    return super.fitDataset(dataset, {
      ...args,
      callbacks: [...standardizeCallbacks(args.callbacks, args.yieldEvery), new StopOnNonFiniteLoss()],
    });
  }

  /**
   * The product of the layer constants: the Lipschitz constant the network
   * guarantees. Throws a ModelError for a layer whose constant is unknown.
   */
  lipschitzConstant(): number {
    let product = 1;
    for (const layer of this.layers) {
      if (isLipschitzLayer(layer)) product *= layer.lipschitzConstant();
      else if (!REARRANGING_LAYERS.has(layer.getClassName())) {
        throw new ModelError(`${this.name}: layer '${layer.name}' (${layer.getClassName()}) has no known Lipschitz constant`);
      }
    }
    return product;
  }

  /**
   * A plain `tf.Sequential` computing the same function: each dense/conv layer
   * replaced by its `vanillaExport()` (tfjs Dense/Conv2D with the effective
   * weights), every other layer cloned from its config with its weights.
   * Default: the kernels `call()` uses, so the outputs match this model;
   * `{ converge: true }` normalizes them to float32 convergence instead.
   */
  vanillaExport(opts: VanillaExportOptions = {}): Sequential {
    assertArg(this.layers.length > 0, () => `${this.name}: cannot export an empty model`);
    const plain: layers.Layer[] = this.layers.map((layer) => (isLipschitzLinear(layer) ? layer.vanillaExport(opts) : cloneLayer(layer)));
    const model = new Sequential({ name: `${this.name}_vanilla` });
    if (plain[0].batchInputShape == null) {
      model.add(layers.inputLayer({ batchInputShape: this.inputs[0].shape }));
    }
    for (const layer of plain) model.add(layer);
    this.layers.forEach((layer, i) => {
      if (!isLipschitzLinear(layer) && layer.weights.length > 0) plain[i].setWeights(layer.getWeights());
    });
    return model;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), kCoefLip: this.kCoefLipTotal };
  }

  /**
   * Builds the model from its config with all layers at once, so each
   * layer's saved kCoefLip is checked against the final share (tf.Sequential
   * adds them one by one). Layer classes come from the tfjs registry, as in
   * tf.Sequential (`customObjects` is not used for layers there either).
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
    _customObjects: tf.serialization.ConfigDict = {},
    fastWeightInit = false,
  ): T {
    const layerConfigs = config['layers'] as tf.serialization.ConfigDictArray | undefined;
    if (!Array.isArray(layerConfigs)) {
      throw new ModelError(`${LipschitzSequential.className}: the model config has no 'layers' array`);
    }
    const built = layerConfigs.map((conf) => {
      const layer = deserializeLayer(conf as tf.serialization.ConfigDict);
      if (fastWeightInit) layer.setFastWeightInitDuringBuild(true);
      return layer;
    });
    // Loading is not building: the warnings were given when the model was made.
    const args: LipschitzSequentialArgs = { layers: built, warnNonLipschitz: false };
    if (typeof config['name'] === 'string') args.name = config['name'];
    if (config['kCoefLip'] != null) args.kCoefLip = config['kCoefLip'] as number;
    return new (cls as unknown as new (a: LipschitzSequentialArgs) => T)(args);
  }
}
tf.serialization.registerClass(LipschitzSequential);

/** A layer from `{className, config}`, looked up in the tfjs serialization registry. */
function deserializeLayer(conf: tf.serialization.ConfigDict): layers.Layer {
  const className = conf['className'];
  const config = conf['config'];
  if (typeof className !== 'string' || config == null || typeof config !== 'object') {
    throw new ModelError(`${LipschitzSequential.className}: bad layer entry ${JSON.stringify(conf)}`);
  }
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className] as unknown as
    [tf.serialization.SerializableConstructor<layers.Layer>, tf.serialization.FromConfigMethod<layers.Layer>] | undefined;
  if (entry === undefined) {
    throw new ModelError(`${LipschitzSequential.className}: unknown layer class '${className}' (is the module that registers it imported?)`);
  }
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config as tf.serialization.ConfigDict);
}

/** A fresh, unconnected layer with the same config (weights are copied by the caller). */
function cloneLayer(layer: layers.Layer): layers.Layer {
  const config = { ...layer.getConfig() };
  return deserializeLayer({ className: layer.getClassName(), config });
}

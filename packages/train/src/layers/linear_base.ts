/**
 * Plumbing shared by the reparametrized dense and conv layers: the raw kernel
 * and bias weights, `kCoefLip`, `call()`, `vanillaExport()` and the config.
 * Subclasses say how the raw kernel is normalized (`normalizedKernel`) and own
 * any persistent power-iteration state.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initializers, layers, LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { addBias } from '../backend/kernels/bias_kernel';
import { CONV2D_BIAS, conv2dBiasSimd } from '../backend/kernels/conv2d_bias_kernel';
import { useSimdKernel } from '../backend/kernels/kernel_choice';
import { assertArg } from '../errors';
import { constraintsHeld } from './constraint_updates';
import {
  assertKCoefLip,
  assertPositiveInt,
  defaultLayerName,
  EffectiveKernelOptions,
  LipschitzLinear,
  normalizePair,
  normalizeSeed,
  seededOrthogonal,
  seededUnitVector,
  VanillaExportOptions,
} from './lipschitz';

/** Arguments shared by every reparametrized layer. */
export interface LipschitzLinearArgs extends LayerArgs {
  /** Add a bias (initialized to zero). Default true. */
  useBias?: boolean;
  /** Lipschitz constant of the layer, applied to the kernel. Default 1. */
  kCoefLip?: number;
  /** Seed of the orthogonal kernel init and of the power-iteration vectors. Default: unseeded. */
  seed?: number | null;
}

/** One `Shape` from what tfjs-layers passes to `build`/`computeOutputShape`. */
export function singleShape(inputShape: Shape | Shape[]): Shape {
  if (Array.isArray(inputShape[0])) {
    assertArg(inputShape.length === 1, () => `expected one input, got ${inputShape.length}`);
    return inputShape[0] as Shape;
  }
  return inputShape as Shape;
}

/** One tensor from what tfjs-layers passes to `call`. */
export function singleTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (Array.isArray(inputs)) {
    assertArg(inputs.length === 1, () => `expected one input tensor, got ${inputs.length}`);
    return inputs[0];
  }
  return inputs;
}

/**
 * Base of the reparametrized layers. The trainable variable is the raw kernel;
 * `call()` uses `normalizedKernel() * kCoefLip`, computed in the graph, so the
 * gradient flows through the normalization.
 */
export abstract class LipschitzLinearBase extends layers.Layer implements LipschitzLinear {
  readonly isLipschitz = true as const;
  readonly isLipschitzLinear = true as const;
  kCoefLip: number;
  readonly useBias: boolean;
  readonly seed: number | undefined;
  protected kernel: LayerVariable | null = null;
  protected bias: LayerVariable | null = null;
  /** Set when tfjs-layers builds with zero initializers because saved weights follow: skip the init work. */
  protected fastInit = false;
  /** The input shape `build` saw (batch dimension included). */
  protected builtInputShape: Shape | null = null;
  /** Set by `freezeEffectiveKernel()`: what `call()` uses instead of normalizing again. */
  private frozenKernel: tf.Variable | null = null;

  constructor(args: LipschitzLinearArgs, defaultNamePrefix: string) {
    super({ ...args, name: args.name ?? defaultLayerName(defaultNamePrefix) });
    const where = (this.constructor as unknown as { className: string }).className;
    this.useBias = args.useBias ?? true;
    assertArg(typeof this.useBias === 'boolean', () => `${where}: 'useBias' must be a boolean, got ${String(args.useBias)}`);
    const k = args.kCoefLip ?? 1;
    assertKCoefLip(k, where);
    this.kCoefLip = k;
    this.seed = normalizeSeed(args.seed, where);
  }

  /** The kernel shape `[in, out]` or `[kh, kw, cin, cout]` for this input shape. */
  protected abstract kernelShape(inputShape: Shape): number[];
  /** Output channels (bias size). */
  protected abstract outputChannels(): number;
  /** The normalized kernel, without kCoefLip, in tfjs layout. Differentiable in the raw kernel. */
  protected abstract normalizedKernel(converge: boolean): tf.Tensor;
  /** Applies the layer's linear map with the given effective kernel. */
  protected abstract linearMap(x: tf.Tensor, kernel: tf.Tensor): tf.Tensor;
  /** `linearMap(x, kernel) + bias`, the bias added along the last axis (lip's SIMD kernel on wasm, else tf.add). */
  protected affineMap(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor {
    return addBias(this.linearMap(x, kernel), bias);
  }
  /** A plain tfjs twin of this layer (unbuilt, no weights). */
  protected abstract plainTwin(): layers.Layer;
  abstract updateConstraints(niter?: number): void;

  /** Adds the raw kernel (seeded orthogonal) and the zero bias. */
  protected addKernelAndBias(inputShape: Shape): void {
    const shape = this.kernelShape(inputShape);
    this.kernel = this.addWeight(
      'kernel',
      shape,
      'float32',
      initializers.zeros(),
      undefined,
      true,
      undefined,
      // Only called when tfjs-layers builds before loading saved weights.
      () => {
        this.fastInit = true;
        return initializers.zeros();
      },
    );
    if (!this.fastInit) {
      const cout = shape[shape.length - 1];
      const rows = shape.reduce((a, b) => a * b, 1) / cout;
      tf.tidy(() => {
        this.kernel!.write(tf.reshape(seededOrthogonal(rows, cout, this.seed), shape));
      });
    }
    if (this.useBias) {
      this.bias = this.addWeight('bias', [this.outputChannels()], 'float32', initializers.zeros(), undefined, true);
    }
  }

  /**
   * Adds a non-trainable unit vector (power-iteration state), seeded from the
   * layer seed plus `seedOffset`. Saved with the model; never differentiated.
   */
  protected addPersistentVector(name: string, shape: number[], seedOffset: number): LayerVariable {
    const vector = this.addWeight(name, shape, 'float32', initializers.zeros(), undefined, false, undefined, () => {
      this.fastInit = true;
      return initializers.zeros();
    });
    if (!this.fastInit) {
      const seed = this.seed === undefined ? undefined : this.seed + seedOffset;
      tf.tidy(() => {
        vector.write(seededUnitVector(shape, seed));
      });
    }
    return vector;
  }

  /** The raw (trainable) kernel variable. */
  get rawKernel(): tf.Variable {
    assertArg(this.kernel !== null, () => `${this.name}: the layer is not built yet`);
    return this.kernel.read() as tf.Variable;
  }

  setKCoefLip(k: number): void {
    assertKCoefLip(k, `${this.name}.setKCoefLip`);
    this.kCoefLip = k;
  }

  lipschitzConstant(): number {
    return this.kCoefLip;
  }

  effectiveKernel(opts: EffectiveKernelOptions = {}): tf.Tensor {
    assertArg(this.kernel !== null, () => `${this.name}: the layer is not built yet`);
    const converge = opts.converge ?? false;
    return tf.tidy(() => tf.mul(this.normalizedKernel(converge), this.kCoefLip));
  }

  /** A copy of the bias (the caller owns it), or null without bias. */
  effectiveBias(): tf.Tensor | null {
    return this.bias === null ? null : tf.clone(this.bias.read());
  }

  /**
   * Computes the effective kernel once, into a variable that `call()` uses
   * until `unfreezeEffectiveKernel()`. A step split into chunks then
   * normalizes once (not once per chunk): it takes each chunk's gradient with
   * respect to this variable, adds them, and back-propagates the sum through
   * the normalization once, as the gradient of `sum(effectiveKernel() * G)`
   * with respect to the raw kernel (chain rule: the same gradient).
   */
  freezeEffectiveKernel(): tf.Variable {
    this.unfreezeEffectiveKernel();
    const kernel = this.effectiveKernel();
    this.frozenKernel = tf.variable(kernel, true);
    kernel.dispose();
    return this.frozenKernel;
  }

  /** Back to normalizing in every `call()`; frees the frozen kernel. */
  unfreezeEffectiveKernel(): void {
    this.frozenKernel?.dispose();
    this.frozenKernel = null;
  }

  /**
   * `x K_eff + b`. Called with `training: true` (fit, fitDataset, a custom
   * loop), the layer first runs `updateConstraints()`, as deel-lip does, unless
   * the caller holds the constraints (constraint_updates.ts) or the kernel is
   * frozen.
   */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    if (kwargs?.['training'] === true && this.frozenKernel === null && !constraintsHeld()) this.updateConstraints();
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = singleTensor(inputs);
      const kernel = this.frozenKernel ?? this.effectiveKernel();
      return this.bias === null ? this.linearMap(x, kernel) : this.affineMap(x, kernel, this.bias.read());
    });
  }

  /**
   * Replaces the raw kernel by its normalized form (deel-lip's `condense`),
   * then refreshes the power-iteration state. The normalizations are
   * invariant to the scale of the raw kernel, so the layer computes the same
   * function (a little closer to orthogonal: Björck's iterations continue from
   * there), and the raw weights cannot drift in scale during training. It
   * disturbs an optimizer with momentum a little, as deel-lip warns.
   */
  condense(): void {
    assertArg(this.kernel !== null, () => `${this.name}: the layer is not built yet`);
    assertArg(this.frozenKernel === null, () => `${this.name}: cannot condense while the kernel is frozen`);
    tf.tidy(() => {
      this.kernel!.write(this.condensedKernel());
    });
    this.updateConstraints();
  }

  /** What `condense()` writes into the raw kernel: by default the normalized kernel, without kCoefLip. */
  protected condensedKernel(): tf.Tensor {
    return this.normalizedKernel(false);
  }

  /**
   * A plain tfjs Dense/Conv2D with the effective weights, built, named like
   * this layer. With `converge`, the weights are normalized to convergence.
   */
  vanillaExport(opts: VanillaExportOptions = {}): layers.Layer {
    assertArg(this.builtInputShape !== null, () => `${this.name}: build the layer before vanillaExport()`);
    const twin = this.plainTwin();
    twin.build(this.builtInputShape);
    twin.built = true;
    const weights = [this.effectiveKernel(opts)];
    const bias = this.effectiveBias();
    if (bias !== null) weights.push(bias);
    twin.setWeights(weights);
    tf.dispose(weights);
    return twin;
  }

  override dispose(): ReturnType<layers.Layer['dispose']> {
    this.unfreezeEffectiveKernel();
    return super.dispose();
  }

  /** Arguments of the plain twin shared by Dense and Conv2D. */
  protected twinArgs(): { name: string; useBias: boolean; batchInputShape?: Shape; dtype: tf.DataType } {
    const args: { name: string; useBias: boolean; batchInputShape?: Shape; dtype: tf.DataType } = {
      name: this.name,
      useBias: this.useBias,
      dtype: 'float32',
    };
    if (this.batchInputShape != null) args.batchInputShape = this.batchInputShape;
    return args;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      useBias: this.useBias,
      kCoefLip: this.kCoefLip,
      seed: this.seed ?? null,
    };
  }
}

/** Arguments of the reparametrized dense layers. */
export interface LipschitzDenseArgs extends LipschitzLinearArgs {
  /** Output size (required). */
  units: number;
}

/** Dense layer `y = x W + b` on the last axis, with a reparametrized kernel `W [in, out]`. */
export abstract class LipschitzDenseBase extends LipschitzLinearBase {
  readonly units: number;

  constructor(args: LipschitzDenseArgs, defaultNamePrefix: string) {
    super(args, defaultNamePrefix);
    const where = (this.constructor as unknown as { className: string }).className;
    assertPositiveInt(args.units, 'units', where);
    this.units = args.units;
    this.inputSpec = [{ minNDim: 2 }];
  }

  protected kernelShape(inputShape: Shape): number[] {
    const inputDim = inputShape[inputShape.length - 1];
    assertArg(
      typeof inputDim === 'number' && inputDim > 0,
      () => `${this.name}: the last input dimension must be known, got input shape [${inputShape.join(', ')}]`,
    );
    return [inputDim, this.units];
  }

  protected outputChannels(): number {
    return this.units;
  }

  /** Adds the weights and fixes the input size. Subclasses add their state after calling this. */
  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    this.addKernelAndBias(shape);
    this.inputSpec = [{ minNDim: 2, axes: { [-1]: shape[shape.length - 1] as number } }];
    this.builtInputShape = shape;
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape).slice();
    shape[shape.length - 1] = this.units;
    return shape;
  }

  protected linearMap(x: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
    if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D);
    const lead = x.shape.slice(0, -1);
    const flat = tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D;
    return tf.reshape(tf.matMul(flat, kernel as tf.Tensor2D), [...lead, this.units]);
  }

  protected plainTwin(): layers.Layer {
    return layers.dense({ ...this.twinArgs(), units: this.units });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units };
  }
}

/** Padding modes of the Lipschitz convolutions. */
export type LipPadding = 'same' | 'valid';

/** Arguments of the reparametrized conv layers (NHWC, no dilation). */
export interface LipschitzConv2DArgs extends LipschitzLinearArgs {
  /** Output channels (required). */
  filters: number;
  /** Kernel height and width, or one number for both (required). */
  kernelSize: number | [number, number];
  /** Strides, or one number for both. Default 1. */
  strides?: number | [number, number];
  /** 'same' (zero padding, output ceil(n / s)) or 'valid'. Default 'same' (deel-lip). */
  padding?: LipPadding;
}

/** 2-D convolution, NHWC, with a reparametrized kernel `[kh, kw, cin, cout]`. */
export abstract class LipschitzConv2DBase extends LipschitzLinearBase {
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: LipPadding;

  constructor(args: LipschitzConv2DArgs, defaultNamePrefix: string) {
    super(args, defaultNamePrefix);
    const where = (this.constructor as unknown as { className: string }).className;
    assertPositiveInt(args.filters, 'filters', where);
    this.filters = args.filters;
    this.kernelSize = normalizePair(args.kernelSize, 'kernelSize', where);
    this.strides = normalizePair(args.strides ?? 1, 'strides', where);
    this.padding = args.padding ?? 'same';
    assertArg(this.padding === 'same' || this.padding === 'valid', () => `${where}: 'padding' must be 'same' or 'valid', got ${JSON.stringify(args.padding)}`);
    this.inputSpec = [{ ndim: 4 }];
  }

  protected kernelShape(inputShape: Shape): number[] {
    assertArg(inputShape.length === 4, () => `${this.name}: expected NHWC input, got shape [${inputShape.join(', ')}]`);
    const cin = inputShape[3];
    assertArg(typeof cin === 'number' && cin > 0, () => `${this.name}: the channel dimension must be known, got input shape [${inputShape.join(', ')}]`);
    return [this.kernelSize[0], this.kernelSize[1], cin, this.filters];
  }

  protected outputChannels(): number {
    return this.filters;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    this.addKernelAndBias(shape);
    this.inputSpec = [{ ndim: 4, axes: { [-1]: shape[3] as number } }];
    this.builtInputShape = shape;
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    const out = (n: number | null, k: number, s: number): number | null => {
      if (n === null) return null;
      return this.padding === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1;
    };
    return [shape[0], out(shape[1], this.kernelSize[0], this.strides[0]), out(shape[2], this.kernelSize[1], this.strides[1]), this.filters];
  }

  protected linearMap(x: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
    return tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, this.strides, this.padding);
  }

  /**
   * On wasm under the simd kernels, one convolution with the bias folded in
   * (LipConv2DBias); only for this class's own `linearMap` (a subclass with
   * another map gets `linearMap + bias`).
   */
  protected override affineMap(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor {
    const plainConv = this.linearMap === LipschitzConv2DBase.prototype.linearMap;
    if (plainConv && x.dtype === 'float32' && x.size > 0 && useSimdKernel(CONV2D_BIAS)) {
      return conv2dBiasSimd(x as tf.Tensor4D, kernel as tf.Tensor4D, bias as tf.Tensor1D, { strides: this.strides, pad: this.padding });
    }
    return super.affineMap(x, kernel, bias);
  }

  /** The raw kernel as the matrix `[kh*kw*cin, cout]`. */
  protected kernel2d(kernel: tf.Tensor): tf.Tensor2D {
    return tf.reshape(kernel, [-1, this.filters]);
  }

  protected plainTwin(): layers.Layer {
    return layers.conv2d({
      ...this.twinArgs(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dataFormat: 'channelsLast',
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
    };
  }
}

import type { layers } from '@tensorflow/tfjs-layers';
import { ModelError } from '@lip/train';
import { GraphBuilder } from '../onnx/builder';

/** `default` uses the natural operator (Max/Min, TopK); `portable` only what every runtime has. */
export type Profile = 'default' | 'portable';

/**
 * What an emitter gets. Values inside the graph are NCHW (`[N, C, H, W]`) or
 * `[N, F]`; `inShape` / `outShape` are the tfjs per-sample shapes (`[H, W, C]`
 * or `[F]`), so `onnxDims(inShape)` is the ONNX shape without the batch.
 */
export interface EmitContext {
  readonly b: GraphBuilder;
  readonly profile: Profile;
  readonly layer: layers.Layer;
  /** `layer.getConfig()`. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The ONNX value holding this layer's input. */
  readonly x: string;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  /** `layer 'name' (Lip>Class)`, for messages. */
  readonly what: string;
}

/** Writes the nodes for one layer and returns the ONNX value holding its output. */
export type Emitter = (ctx: EmitContext) => string;

/** ONNX dims without the batch for a tfjs per-sample shape: `[H, W, C]` -> `[C, H, W]`. */
export function onnxDims(shape: readonly number[]): number[] {
  return shape.length === 3 ? [shape[2], shape[0], shape[1]] : [...shape];
}

/** Fails with a ModelError that names the layer. */
export function refuse(ctx: EmitContext, why: string): never {
  throw new ModelError(`cannot export ${ctx.what}: ${why}`);
}

/** `Reshape(x, [-1, ...dims])`: the batch stays dynamic. */
export function reshape(b: GraphBuilder, x: string, dims: readonly number[]): string {
  const shape = b.initializer(b.fresh('shape'), [-1, ...dims], [dims.length + 1]);
  return b.node('Reshape', [x, shape])[0];
}

/** `x * s` for a float scalar; nothing when s is exactly 1. */
export function scale(b: GraphBuilder, x: string, s: number): string {
  if (s === 1) return x;
  return b.node('Mul', [x, b.initializer(b.fresh('scale'), Float32Array.of(s), [])])[0];
}

/** `Split(x, axis)` into `parts` equal pieces (split sizes as an input: valid for opset 13 and 18+). */
export function splitEqual(b: GraphBuilder, x: string, axis: number, parts: number, size = 1): string[] {
  const sizes = b.initializer(b.fresh('split'), new Array<number>(parts).fill(size), [parts]);
  return b.node('Split', [x, sizes], { axis }, { outputs: parts });
}

/** A layer's positive integer pair option (`poolSize`, `strides`, `kernelSize`, ...). */
export function pair(ctx: EmitContext, key: string, fallback?: [number, number]): [number, number] {
  const v = ctx.config[key] ?? fallback;
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => Number.isInteger(d) && d > 0)) {
    refuse(ctx, `option '${key}' must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

/** Explicit `[top, left, bottom, right]` pads that reproduce tfjs `'same'` (extra padding at the end). */
export function samePads(inHW: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[] = [1, 1]): number[] {
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = Math.ceil(inHW[i] / strides[i]);
    const extent = (kernel[i] - 1) * dilations[i] + 1;
    const total = Math.max((out - 1) * strides[i] + extent - inHW[i], 0);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
  }
  return [...before, ...after];
}

/** The layer's `padding` option: `'valid'` or `'same'` (tfjs's `'causal'` is refused). */
export function padding(ctx: EmitContext): 'valid' | 'same' {
  const p = ctx.config.padding ?? 'valid';
  if (p !== 'valid' && p !== 'same') refuse(ctx, `padding '${String(p)}' is not supported (use 'valid' or 'same')`);
  return p;
}

/** Refuses NCHW tfjs layers: the exporter assumes tfjs's default channels-last. */
export function requireChannelsLast(ctx: EmitContext): void {
  const f = ctx.config.dataFormat;
  if (f !== undefined && f !== null && f !== 'channelsLast') refuse(ctx, `dataFormat '${String(f)}' is not supported (use 'channelsLast')`);
}

/** Refuses a fused activation the emitter would otherwise drop. */
export function requireLinearActivation(ctx: EmitContext): void {
  const a = ctx.config.activation;
  if (a !== undefined && a !== null && a !== 'linear') refuse(ctx, `fused activation '${String(a)}' is not supported; use a separate activation layer`);
}

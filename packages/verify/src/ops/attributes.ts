/**
 * One attribute parser per operator: each reads a node's attributes and
 * constant parameter inputs (by opset, ONNX opsets 7 to 21, as onnxruntime
 * reads them) and returns typed, validated, normalized parameters (axes in
 * [0, rank), explicit pads, window geometry, ...). The shape rules
 * (bound/shapes.ts), the bound rules (bound/lipschitz.ts) and the tfjs
 * translations (translate/ops.ts) all call these, so they never disagree on
 * what a node means. The registry (./registry.ts) names each op's parser.
 *
 * tfjs-free and imports nothing from the reader at run time (the reader
 * imports the registry, which imports this file).
 */
import { ModelError } from '@lip/core/errors';
import type { OnnxDataType, OnnxNode, OnnxTensor } from '../onnx/read';
import { AutoPad, windowAxes, WindowAxis } from '../bound/pool';
import { broadcastShapes, range, sizeOf, sliceIndices } from '../bound/tensor_ops';

/** What a parser may read: the node, the opset, input shapes and constant inputs. */
export interface AttributeContext {
  readonly node: OnnxNode;
  readonly opset: number;
  /** Shape of input `i`; undefined when the input is omitted (''). */
  shape(i: number): readonly number[] | undefined;
  /** Values of the constant integer input `i`; undefined when it is omitted. Fails when it is not a constant integer tensor. */
  ints(i: number, what: string): number[] | undefined;
  /** Values of the constant input `i` as numbers; undefined when it is omitted. Fails when it is not a constant. */
  floats(i: number, what: string): number[] | undefined;
  /** Throws a ModelError naming the node. */
  fail(msg: string): never;
}

/** Parses one op's attributes into its parameters. */
export type OpParser<P = unknown> = (ctx: AttributeContext) => P;

// ---------------------------------------------------------------- attribute values

function wrongType(node: OnnxNode, name: string, what: string): ModelError {
  return new ModelError(`node '${node.name}' (${node.opType}): attribute '${name}' must be ${what}.`);
}

/** Integer attribute with a default; refuses a non-integer value. */
export function attrInt(node: OnnxNode, name: string, dflt: number): number {
  const v = node.attributes[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw wrongType(node, name, 'an int');
  return v;
}

/** Float attribute with a default. */
export function attrFloat(node: OnnxNode, name: string, dflt: number): number {
  const v = node.attributes[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw wrongType(node, name, 'a float');
  return v;
}

/** Int list attribute with a default. */
export function attrInts(node: OnnxNode, name: string, dflt: number[]): number[] {
  const v = node.attributes[name];
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw wrongType(node, name, 'a list of ints');
  return v as number[];
}

/** String attribute with a default. */
export function attrString(node: OnnxNode, name: string, dflt: string): string {
  const v = node.attributes[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'string') throw wrongType(node, name, 'a string');
  return v;
}

/** The tensor a Constant node produces (attributes value, value_float(s), value_int(s)). */
export function constantNodeValue(node: OnnxNode, source = '<bytes>'): OnnxTensor {
  const a = node.attributes;
  const name = node.outputs[0] ?? '';
  if (a.value !== undefined && typeof a.value === 'object' && !Array.isArray(a.value)) return { ...(a.value as OnnxTensor), name };
  if (typeof a.value_float === 'number') return { name, dataType: 'float32', dims: [], size: 1, data: Float32Array.of(a.value_float) };
  if (Array.isArray(a.value_floats)) {
    const v = a.value_floats as number[];
    return { name, dataType: 'float32', dims: [v.length], size: v.length, data: Float32Array.from(v) };
  }
  const ints = a.value_int ?? a.value_ints;
  if (ints !== undefined && typeof ints === 'object' && !Array.isArray(ints)) return { ...(ints as OnnxTensor), name };
  if (typeof a.value_int === 'number') return { name, dataType: 'int64', dims: [], size: 1, data: BigInt64Array.of(BigInt(a.value_int)) };
  if (Array.isArray(a.value_ints)) {
    const v = a.value_ints as number[];
    return { name, dataType: 'int64', dims: [v.length], size: v.length, data: BigInt64Array.from(v, (x) => BigInt(x)) };
  }
  const file = source === '<bytes>' ? 'the ONNX model bytes' : `'${source}'`;
  throw new ModelError(`${file}: Constant node '${node.name}' has no supported value attribute; re-export the model.`);
}

// ---------------------------------------------------------------- helpers

/** Shape of a required input. */
export function inShape(ctx: AttributeContext, i: number): number[] {
  const s = ctx.shape(i);
  if (!s) ctx.fail(`input ${i} is missing`);
  return [...s];
}

/** An axis in [-rank, rank - 1], normalized to [0, rank - 1]. */
export function axisIn(ctx: AttributeContext, axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) ctx.fail(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Distinct axes, normalized. */
function distinctAxes(ctx: AttributeContext, axes: readonly number[], rank: number, what: string): number[] {
  const out = axes.map((a) => axisIn(ctx, a, rank, what));
  if (new Set(out).size !== out.length) ctx.fail(`${what} [${axes.join(', ')}] repeat an axis`);
  return out;
}

/** The single value of an optional scalar constant input. */
function scalarInput(ctx: AttributeContext, i: number, what: string): number | undefined {
  const v = ctx.floats(i, what);
  if (v === undefined) return undefined;
  if (v.length !== 1) ctx.fail(`${what} (input ${i}) must hold one value, got ${v.length}`);
  return v[0];
}

// ---------------------------------------------------------------- elementwise

/** Ops without attributes (or whose attributes do not change the result in inference). */
export const noAttributes: OpParser<Record<string, never>> = () => ({});

/** LeakyRelu (default 0.01) and Elu (default 1): `alpha`, finite. */
export function alphaParams(ctx: AttributeContext): { alpha: number } {
  const alpha = attrFloat(ctx.node, 'alpha', ctx.node.opType === 'Elu' ? 1 : 0.01);
  if (!Number.isFinite(alpha)) ctx.fail(`alpha = ${alpha} must be finite`);
  return { alpha };
}

/** Clip's bounds: attributes before opset 11, constant scalar inputs 1 and 2 from opset 11; omitted = unbounded. */
export function clipRange(ctx: AttributeContext): { min: number; max: number } {
  const min = ctx.opset < 11 ? attrFloat(ctx.node, 'min', -Infinity) : (scalarInput(ctx, 1, "'min'") ?? -Infinity);
  const max = ctx.opset < 11 ? attrFloat(ctx.node, 'max', Infinity) : (scalarInput(ctx, 2, "'max'") ?? Infinity);
  if (Number.isNaN(min) || Number.isNaN(max)) ctx.fail(`min ${min} and max ${max} must not be NaN`);
  return { min, max };
}

/** Softmax's axis, normalized (default -1 from opset 13, 1 before). */
export function softmaxAxis(ctx: AttributeContext): { axis: number } {
  const x = inShape(ctx, 0);
  return { axis: axisIn(ctx, attrInt(ctx.node, 'axis', ctx.opset >= 13 ? -1 : 1), Math.max(x.length, 1)) };
}

const CAST_TYPES: Record<number, OnnxDataType> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
};

/** Cast's target element type. */
export function castParams(ctx: AttributeContext): { to: OnnxDataType } {
  const code = attrInt(ctx.node, 'to', 0);
  const to = CAST_TYPES[code];
  if (!to) ctx.fail(`'to' = ${code} is not a supported element type`);
  return { to };
}

// ---------------------------------------------------------------- linear

/** Conv's weight layout and window geometry. */
export function convSpec(ctx: AttributeContext): { cout: number; cinPerGroup: number; group: number; kernel: number[]; axes: WindowAxis[] } {
  const x = inShape(ctx, 0);
  const w = inShape(ctx, 1);
  if (x.length < 3 || w.length !== x.length) ctx.fail(`weights [${w.join(', ')}] do not fit the input [${x.join(', ')}]`);
  const group = attrInt(ctx.node, 'group', 1);
  const [cout, cinPerGroup, ...kernel] = w;
  if (!(Number.isSafeInteger(group) && group >= 1) || x[1] !== cinPerGroup * group || cout % group !== 0 || cout < 1) {
    ctx.fail(`weights [${w.join(', ')}] do not fit ${x[1]} input channels with group = ${group}`);
  }
  const given = attrInts(ctx.node, 'kernel_shape', kernel);
  if (given.join() !== kernel.join()) ctx.fail(`kernel_shape [${given.join(', ')}] differs from the weights [${w.join(', ')}]`);
  const b = ctx.shape(2);
  if (b && (b.length !== 1 || b[0] !== cout)) ctx.fail(`bias [${b.join(', ')}] must be [${cout}]`);
  const r = x.length - 2;
  const auto = autoPad(ctx);
  const raw = windowAxes(
    x.slice(2),
    {
      kernel,
      strides: attrInts(ctx.node, 'strides', new Array<number>(r).fill(1)),
      dilations: attrInts(ctx.node, 'dilations', new Array<number>(r).fill(1)),
      pads: attrInts(ctx.node, 'pads', new Array<number>(2 * r).fill(0)),
      autoPad: auto,
      ceilMode: false,
    },
    ctx.fail,
  );
  // A SAME total padding below 0 (kernel extent < stride): onnxruntime's Conv pads 0 (windows at 0, s, 2s, ...; checked
  // in translate.test.ts), where its poolings pad negatively (bound/pool.ts). The output size, ceil(n / s), is the same.
  const axes = auto.startsWith('SAME') ? raw.map((a) => (a.padBegin + a.padEnd < 0 ? { ...a, padBegin: 0, padEnd: 0 } : a)) : raw;
  return { cout, cinPerGroup, group, kernel, axes };
}

/** ConvTranspose (2-D) geometry, as the Conv it is the adjoint of. */
export interface ConvTransposeSpec {
  /** Input channels (the forward Conv's output channels). */
  cin: number;
  /** Output channels per group (the forward Conv's input channels per group). */
  coutPerGroup: number;
  group: number;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right]. */
  pads: [number, number, number, number];
  outputPadding: [number, number];
  inHW: [number, number];
  outHW: [number, number];
}

/**
 * ConvTranspose: `y[o] = sum_{i, t: o = i s + t d - pad_begin} x[i] W[t]`,
 * output `s (in - 1) + output_padding + (k - 1) d + 1 - pad_begin - pad_end`
 * per axis (explicit pads only; no output_shape, no auto_pad).
 */
export function convTransposeSpec(ctx: AttributeContext): ConvTransposeSpec {
  const x = inShape(ctx, 0);
  const w = inShape(ctx, 1);
  if (x.length !== 4 || w.length !== 4) ctx.fail(`only 2-D transposed convolutions are supported: input [${x.join(', ')}], weights [${w.join(', ')}]`);
  const group = attrInt(ctx.node, 'group', 1);
  const [cin, coutPerGroup, kh, kw] = w;
  if (!(Number.isSafeInteger(group) && group >= 1) || x[1] !== cin || cin % group !== 0) {
    ctx.fail(`weights [${w.join(', ')}] do not fit ${x[1]} input channels with group = ${group}`);
  }
  const given = attrInts(ctx.node, 'kernel_shape', [kh, kw]);
  if (given.join() !== [kh, kw].join()) ctx.fail(`kernel_shape [${given.join(', ')}] differs from the weights [${w.join(', ')}]`);
  const b = ctx.shape(2);
  if (b && (b.length !== 1 || b[0] !== coutPerGroup * group)) ctx.fail(`bias [${b.join(', ')}] must be [${coutPerGroup * group}]`);
  if (attrString(ctx.node, 'auto_pad', 'NOTSET') !== 'NOTSET') ctx.fail("only explicit pads are supported (auto_pad 'NOTSET')");
  if (attrInts(ctx.node, 'output_shape', []).length > 0) ctx.fail("'output_shape' is not supported: give explicit pads and output_padding");
  const strides = attrInts(ctx.node, 'strides', [1, 1]);
  const dilations = attrInts(ctx.node, 'dilations', [1, 1]);
  const pads = attrInts(ctx.node, 'pads', [0, 0, 0, 0]);
  const outputPadding = attrInts(ctx.node, 'output_padding', [0, 0]);
  const ok = (v: number[], n: number, min: number): boolean => v.length === n && v.every((d) => Number.isSafeInteger(d) && d >= min);
  if (!ok(strides, 2, 1) || !ok(dilations, 2, 1) || !ok(pads, 4, 0) || !ok(outputPadding, 2, 0)) {
    ctx.fail(
      `strides [${strides.join(', ')}], dilations [${dilations.join(', ')}] must be 2 ints >= 1, pads [${pads.join(', ')}] 4 ints >= 0, output_padding [${outputPadding.join(', ')}] 2 ints >= 0`,
    );
  }
  const out = [0, 1].map((a) => strides[a] * (x[2 + a] - 1) + outputPadding[a] + (w[2 + a] - 1) * dilations[a] + 1 - pads[a] - pads[2 + a]);
  if (outputPadding.some((p, a) => p >= Math.max(strides[a], dilations[a])))
    ctx.fail(`output_padding [${outputPadding.join(', ')}] must be below the stride or dilation`);
  if (out.some((n) => n < 1)) ctx.fail(`the pads [${pads.join(', ')}] leave an empty output`);
  return {
    cin,
    coutPerGroup,
    group,
    kernel: [kh, kw],
    strides: [strides[0], strides[1]],
    dilations: [dilations[0], dilations[1]],
    pads: [pads[0], pads[1], pads[2], pads[3]],
    outputPadding: [outputPadding[0], outputPadding[1]],
    inHW: [x[2], x[3]],
    outHW: [out[0], out[1]],
  };
}

/** Gemm: Y = alpha op(A) op(B) + beta C, with M, K, N. */
export function gemmParams(ctx: AttributeContext): { m: number; k: number; n: number; alpha: number; beta: number; transA: boolean; transB: boolean } {
  const a = inShape(ctx, 0);
  const b = inShape(ctx, 1);
  if (a.length !== 2 || b.length !== 2) ctx.fail(`operands [${a.join(', ')}] and [${b.join(', ')}] must be 2-D`);
  const transA = attrInt(ctx.node, 'transA', 0) === 1;
  const transB = attrInt(ctx.node, 'transB', 0) === 1;
  const [m, k] = transA ? [a[1], a[0]] : a;
  const [k2, n] = transB ? [b[1], b[0]] : b;
  if (k !== k2) ctx.fail(`inner dimensions differ (${k} vs ${k2})`);
  const c = ctx.shape(2);
  // C broadcasts one way to [M, N].
  if (c && (c.length > 2 || (broadcastShapes(c, [m, n]) ?? []).join() !== [m, n].join())) {
    ctx.fail(`C [${c.join(', ')}] does not broadcast to [${m}, ${n}]`);
  }
  const alpha = attrFloat(ctx.node, 'alpha', 1);
  const beta = attrFloat(ctx.node, 'beta', 1);
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) ctx.fail(`alpha = ${alpha} and beta = ${beta} must be finite`);
  return { m, k, n, alpha, beta, transA, transB };
}

/** BatchNormalization in inference: [N, C, ...] with four per-channel [C] parameters, and epsilon. */
export function batchNormParams(ctx: AttributeContext): { epsilon: number } {
  const x = inShape(ctx, 0);
  if (x.length < 2) ctx.fail(`expects an [N, C, ...] input, got [${x.join(', ')}]`);
  for (let i = 1; i <= 4; i++) {
    const p = inShape(ctx, i);
    if (p.length !== 1 || p[0] !== x[1]) ctx.fail(`parameter ${i} has shape [${p.join(', ')}], expected [${x[1]}]`);
  }
  if (attrInt(ctx.node, 'training_mode', 0) !== 0 || ctx.node.outputs.slice(1).some((o) => o)) {
    ctx.fail('only inference mode is supported (training_mode = 0, one output); export the model in eval mode');
  }
  const epsilon = attrFloat(ctx.node, 'epsilon', 1e-5);
  if (!(epsilon >= 0) || !Number.isFinite(epsilon)) ctx.fail(`epsilon = ${epsilon} must be finite and >= 0`);
  return { epsilon };
}

// ---------------------------------------------------------------- pooling

/** The first opset that defines each pooling attribute (onnxruntime refuses it earlier). */
const POOL_ATTRIBUTE_SINCE: Record<string, Record<string, number>> = {
  AveragePool: { ceil_mode: 10, dilations: 19, count_include_pad: 7 },
  MaxPool: { ceil_mode: 10, dilations: 10, storage_order: 8 },
  LpPool: { ceil_mode: 18, dilations: 18 },
};

function autoPad(ctx: AttributeContext): AutoPad {
  const a = attrString(ctx.node, 'auto_pad', 'NOTSET');
  if (a !== 'NOTSET' && a !== 'VALID' && a !== 'SAME_UPPER' && a !== 'SAME_LOWER') {
    ctx.fail(`auto_pad '${a}' must be NOTSET, VALID, SAME_UPPER or SAME_LOWER`);
  }
  return a;
}

/** LpPool / GlobalLpPool's p (default 2), >= 1. */
function lpNorm(ctx: AttributeContext): number {
  const p = attrInt(ctx.node, 'p', 2);
  if (!(Number.isSafeInteger(p) && p >= 1)) ctx.fail(`p = ${p} must be an integer >= 1`);
  return p;
}

export interface PoolParams {
  /** Window geometry per spatial axis (explicit pads, output sizes). */
  axes: WindowAxis[];
  ceilMode: boolean;
  /** AveragePool: divide by the taps inside the padded input (true) or by the cells inside the input. */
  countIncludePad: boolean;
  /** LpPool's norm (2 for the other poolings). */
  p: number;
}

/** AveragePool, MaxPool and LpPool: window geometry per spatial axis, count_include_pad and p. */
export function poolParams(ctx: AttributeContext): PoolParams {
  const x = inShape(ctx, 0);
  if (x.length < 3) ctx.fail(`expects an [N, C, spatial...] input, got [${x.join(', ')}]`);
  const since = POOL_ATTRIBUTE_SINCE[ctx.node.opType] ?? {};
  for (const [name, opset] of Object.entries(since)) {
    if (ctx.opset < opset && ctx.node.attributes[name] !== undefined) {
      ctx.fail(`attribute '${name}' is not part of ${ctx.node.opType} before opset ${opset} (this model has opset ${ctx.opset})`);
    }
  }
  const spatial = x.slice(2);
  const r = spatial.length;
  if (ctx.node.attributes.kernel_shape === undefined) ctx.fail("attribute 'kernel_shape' is required");
  const ceilMode = attrInt(ctx.node, 'ceil_mode', 0) === 1;
  const axes = windowAxes(
    spatial,
    {
      kernel: attrInts(ctx.node, 'kernel_shape', []),
      strides: attrInts(ctx.node, 'strides', new Array<number>(r).fill(1)),
      dilations: attrInts(ctx.node, 'dilations', new Array<number>(r).fill(1)),
      pads: attrInts(ctx.node, 'pads', new Array<number>(2 * r).fill(0)),
      autoPad: autoPad(ctx),
      ceilMode,
    },
    ctx.fail,
  );
  const countIncludePad = ctx.node.opType === 'AveragePool' && attrInt(ctx.node, 'count_include_pad', 0) === 1;
  return { axes, ceilMode, countIncludePad, p: ctx.node.opType === 'LpPool' ? lpNorm(ctx) : 2 };
}

/** GlobalAveragePool, GlobalMaxPool and GlobalLpPool: an [N, C, spatial...] input, and p. */
export function globalPoolParams(ctx: AttributeContext): { p: number } {
  const x = inShape(ctx, 0);
  if (x.length < 3) ctx.fail(`expects an [N, C, spatial...] input, got [${x.join(', ')}]`);
  return { p: ctx.node.opType === 'GlobalLpPool' ? lpNorm(ctx) : 2 };
}

// ---------------------------------------------------------------- reductions

/** Reduced axes (empty: nothing is reduced) and keepdims; axes are an attribute before opset 18, an input from 18. */
export function reduceAxes(ctx: AttributeContext): { axes: Set<number>; keep: boolean } {
  const x = inShape(ctx, 0);
  const keep = attrInt(ctx.node, 'keepdims', 1) === 1;
  const given = ctx.opset >= 18 ? ctx.ints(1, "'axes'") : ctx.node.attributes.axes !== undefined ? attrInts(ctx.node, 'axes', []) : undefined;
  if (!given || given.length === 0) {
    const noop = ctx.opset >= 18 && attrInt(ctx.node, 'noop_with_empty_axes', 0) === 1;
    return { axes: new Set(noop ? [] : range(x.length)), keep };
  }
  return { axes: new Set(distinctAxes(ctx, given, x.length, 'axes')), keep };
}

/** TopK's axis, K (attribute before opset 10, input from 10), largest and sorted. */
export function topK(ctx: AttributeContext): { axis: number; k: number; largest: boolean; sorted: boolean } {
  const x = inShape(ctx, 0);
  const axis = axisIn(ctx, attrInt(ctx.node, 'axis', -1), x.length);
  let k: number;
  if (ctx.opset >= 10) {
    const ks = ctx.ints(1, "'K'") ?? ctx.fail("input 'K' is missing");
    if (ks.length !== 1) ctx.fail(`'K' must hold one value, got [${ks.join(', ')}]`);
    k = ks[0];
  } else {
    k = attrInt(ctx.node, 'k', -1);
  }
  if (!(k >= 0 && k <= x[axis])) ctx.fail(`K = ${k} is outside [0, ${x[axis]}]`);
  // largest and sorted exist from opset 11; before, TopK returns the largest, sorted.
  return { axis, k, largest: attrInt(ctx.node, 'largest', 1) === 1, sorted: attrInt(ctx.node, 'sorted', 1) === 1 };
}

// ---------------------------------------------------------------- structural

/** Concat's axis (required), normalized. */
export function concatAxis(ctx: AttributeContext): number {
  const x = inShape(ctx, 0);
  if (ctx.node.attributes.axis === undefined) ctx.fail("attribute 'axis' is required");
  return axisIn(ctx, attrInt(ctx.node, 'axis', 0), x.length);
}

/** Flatten's axis in [0, rank] (default 1). */
export function flattenAxis(ctx: AttributeContext): number {
  const r = inShape(ctx, 0).length;
  const axis = attrInt(ctx.node, 'axis', 1);
  // Flatten's axis may equal the rank: [-r, r], and -1 means r - 1.
  const a = axis < 0 ? axis + r : axis;
  if (!Number.isInteger(a) || a < 0 || a > r) ctx.fail(`axis ${axis} is out of range [-${r}, ${r}]`);
  return a;
}

/** Reshape's output shape: 0 copies the input's dimension (unless allowzero), -1 is inferred. */
export function reshapeTarget(ctx: AttributeContext): number[] {
  const x = inShape(ctx, 0);
  const spec = ctx.opset >= 5 ? ctx.ints(1, "'shape'") : attrInts(ctx.node, 'shape', []);
  if (!spec) ctx.fail("input 'shape' is missing");
  const allowZero = ctx.opset >= 14 && attrInt(ctx.node, 'allowzero', 0) === 1;
  if (allowZero && spec.includes(0) && spec.includes(-1)) ctx.fail(`shape [${spec.join(', ')}] has both 0 and -1 with allowzero = 1`);
  const out = spec.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= x.length) ctx.fail(`shape [${spec.join(', ')}] copies dimension ${i} (0) of a rank-${x.length} input`);
      return x[i];
    }
    if (d < -1) ctx.fail(`shape [${spec.join(', ')}] has a negative dimension`);
    return d;
  });
  const free = out.filter((d) => d === -1).length;
  if (free > 1) ctx.fail(`shape [${spec.join(', ')}] has more than one -1`);
  const known = sizeOf(out.filter((d) => d !== -1));
  if (free === 1) {
    const n = sizeOf(x);
    if (known === 0 || n % known !== 0) ctx.fail(`cannot reshape [${x.join(', ')}] to [${spec.join(', ')}]`);
    out[out.indexOf(-1)] = n / known;
  }
  if (sizeOf(out) !== sizeOf(x)) ctx.fail(`cannot reshape [${x.join(', ')}] to [${spec.join(', ')}]`);
  return out;
}

/** The axes Squeeze removes (attribute before opset 13, input from 13; none given: every axis of size 1). */
export function squeezeAxes(ctx: AttributeContext): Set<number> {
  const x = inShape(ctx, 0);
  const given = ctx.opset >= 13 ? ctx.ints(1, "'axes'") : ctx.node.attributes.axes !== undefined ? attrInts(ctx.node, 'axes', []) : undefined;
  if (!given) return new Set(range(x.length).filter((i) => x[i] === 1));
  const axes = distinctAxes(ctx, given, x.length, 'axes');
  for (const a of axes) if (x[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of size ${x[a]} (shape [${x.join(', ')}])`);
  return new Set(axes);
}

/** The output axes Unsqueeze inserts, normalized against the output rank. */
export function unsqueezeAxes(ctx: AttributeContext): Set<number> {
  const x = inShape(ctx, 0);
  const given = ctx.opset >= 13 ? ctx.ints(1, "'axes'") : attrInts(ctx.node, 'axes', []);
  if (!given || given.length === 0) ctx.fail("'axes' is required");
  return new Set(distinctAxes(ctx, given, x.length + given.length, 'axes'));
}

/** Transpose's permutation (default: reversed axes). */
export function transposePerm(ctx: AttributeContext): number[] {
  const r = inShape(ctx, 0).length;
  const perm = attrInts(ctx.node, 'perm', range(r).reverse());
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= r)) {
    ctx.fail(`perm [${perm.join(', ')}] is not a permutation of the ${r} axes`);
  }
  return perm;
}

function blockSize(ctx: AttributeContext): number {
  const x = inShape(ctx, 0);
  if (x.length !== 4) ctx.fail(`expects a 4-D input, got [${x.join(', ')}]`);
  const bs = attrInt(ctx.node, 'blocksize', 0);
  if (!Number.isSafeInteger(bs) || bs < 1) ctx.fail(`blocksize ${bs} must be an integer >= 1`);
  return bs;
}

/** DepthToSpace's blocksize (dividing the channels by blocksize^2) and mode. */
export function depthToSpaceParams(ctx: AttributeContext): { blockSize: number; mode: 'DCR' | 'CRD' } {
  const bs = blockSize(ctx);
  const c = inShape(ctx, 0)[1];
  if (c % (bs * bs) !== 0) ctx.fail(`${c} channels are not divisible by blocksize^2 = ${bs * bs}`);
  const mode = attrString(ctx.node, 'mode', 'DCR');
  if (mode !== 'DCR' && mode !== 'CRD') ctx.fail(`mode '${mode}' must be 'DCR' or 'CRD'`);
  return { blockSize: bs, mode };
}

/** SpaceToDepth's blocksize, dividing both spatial sizes. */
export function spaceToDepthParams(ctx: AttributeContext): { blockSize: number } {
  const bs = blockSize(ctx);
  const [, , h, w] = inShape(ctx, 0);
  if (h % bs !== 0 || w % bs !== 0) ctx.fail(`spatial size ${h}x${w} is not divisible by blocksize ${bs}`);
  return { blockSize: bs };
}

/** Per-axis index lists of a Slice (attributes before opset 10, inputs with steps from 10; ONNX clamping rules). */
export function sliceSelection(ctx: AttributeContext): number[][] {
  const x = inShape(ctx, 0);
  let starts: number[], ends: number[], axes: number[], steps: number[];
  if (ctx.opset >= 10) {
    starts = ctx.ints(1, "'starts'") ?? ctx.fail("input 'starts' is missing");
    ends = ctx.ints(2, "'ends'") ?? ctx.fail("input 'ends' is missing");
    axes = ctx.ints(3, "'axes'") ?? range(starts.length);
    steps = ctx.ints(4, "'steps'") ?? starts.map(() => 1);
  } else {
    starts = attrInts(ctx.node, 'starts', []);
    ends = attrInts(ctx.node, 'ends', []);
    axes = attrInts(ctx.node, 'axes', range(starts.length));
    steps = starts.map(() => 1);
  }
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    ctx.fail(`starts [${starts.join(', ')}], ends [${ends.join(', ')}], axes [${axes.join(', ')}] and steps [${steps.join(', ')}] differ in length`);
  }
  const norm = distinctAxes(ctx, axes, x.length, 'axes');
  const idx = x.map((d) => range(d));
  norm.forEach((a, i) => {
    if (steps[i] === 0) ctx.fail('a step is 0');
    idx[a] = sliceIndices(x[a], starts[i], ends[i], steps[i]);
  });
  return idx;
}

/**
 * Split's axis and part sizes: the 'split' attribute (before opset 13) or
 * input (from 13); else equal parts (before 18) or num_outputs parts of
 * ceil(d / parts), the last one smaller (from 18).
 */
export function splitParams(ctx: AttributeContext): { axis: number; sizes: number[] } {
  const x = inShape(ctx, 0);
  const axis = axisIn(ctx, attrInt(ctx.node, 'axis', 0), x.length);
  const d = x[axis];
  const nOut = ctx.node.outputs.length;
  let sizes: number[];
  const given = ctx.opset >= 13 ? ctx.ints(1, "'split'") : ctx.node.attributes.split !== undefined ? attrInts(ctx.node, 'split', []) : undefined;
  if (given) {
    sizes = given;
  } else if (ctx.opset >= 18) {
    if (ctx.node.attributes.num_outputs === undefined) ctx.fail("neither the 'split' input nor the 'num_outputs' attribute is given");
    const parts = attrInt(ctx.node, 'num_outputs', nOut);
    if (parts !== nOut) ctx.fail(`num_outputs = ${parts} but the node has ${nOut} outputs`);
    // onnxruntime refuses an empty last part.
    const chunk = Math.ceil(d / parts);
    sizes = range(parts).map((i) => (i < parts - 1 ? chunk : d - chunk * (parts - 1)));
    if (sizes[parts - 1] < 1) ctx.fail(`dimension ${d} cannot be split into ${parts} parts of ${chunk}`);
  } else {
    if (d % nOut !== 0) ctx.fail(`dimension ${d} is not evenly splittable into ${nOut} outputs`);
    sizes = new Array<number>(nOut).fill(d / nOut);
  }
  if (sizes.length !== nOut || sizes.some((s) => s < 0) || sizes.reduce((a, s) => a + s, 0) !== d) {
    ctx.fail(`split sizes [${sizes.join(', ')}] do not cover dimension ${d} with ${nOut} outputs`);
  }
  return { axis, sizes };
}

/** Gather's axis and its indices (normalized to [0, dim)). */
export function gatherIndices(ctx: AttributeContext): { axis: number; indices: number[]; indicesShape: number[] } {
  const x = inShape(ctx, 0);
  const axis = axisIn(ctx, attrInt(ctx.node, 'axis', 0), x.length);
  const raw = ctx.ints(1, "'indices'") ?? ctx.fail("input 'indices' is missing");
  const d = x[axis];
  const indices = raw.map((i) => {
    if (i < -d || i >= d) ctx.fail(`index ${i} is out of range [${-d}, ${d - 1}] for axis ${axis}`);
    return i < 0 ? i + d : i;
  });
  return { axis, indices, indicesShape: inShape(ctx, 1) };
}

export type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

/**
 * Pad's per-axis amounts [begins..., ends...] over all axes (negative crops),
 * its mode and constant value: pads and value are attributes before opset 11,
 * inputs from 11; the axes input (opset 18) selects the padded axes.
 */
export function padParams(ctx: AttributeContext): { pads: number[]; mode: PadMode; value: number } {
  const x = inShape(ctx, 0);
  const r = x.length;
  const mode = attrString(ctx.node, 'mode', 'constant') as PadMode;
  if (!['constant', 'reflect', 'edge', ...(ctx.opset >= 19 ? ['wrap'] : [])].includes(mode)) ctx.fail(`mode '${mode}' is not supported`);
  const given = ctx.opset >= 11 ? (ctx.ints(1, "'pads'") ?? ctx.fail("input 'pads' is missing")) : attrInts(ctx.node, 'pads', []);
  const axesIn = ctx.opset >= 18 ? ctx.ints(3, "'axes'") : undefined;
  const axes = axesIn ? distinctAxes(ctx, axesIn, r, 'axes') : range(r);
  if (given.length !== 2 * axes.length) ctx.fail(`pads [${given.join(', ')}] must hold ${2 * axes.length} values`);
  const pads = new Array<number>(2 * r).fill(0);
  axes.forEach((a, i) => {
    pads[a] = given[i];
    pads[a + r] = given[i + axes.length];
  });
  for (let i = 0; i < r; i++) {
    if (x[i] + pads[i] + pads[i + r] < 0) ctx.fail(`pads [${given.join(', ')}] remove more than dimension ${i} (${x[i]})`);
  }
  const value = ctx.opset >= 11 ? (scalarInput(ctx, 2, "'constant_value'") ?? 0) : attrFloat(ctx.node, 'value', 0);
  return { pads, mode, value };
}

// ---------------------------------------------------------------- shape arithmetic

/** Constant's value (attributes value, value_float(s), value_int(s)). */
export function constantValue(ctx: AttributeContext): OnnxTensor {
  return constantNodeValue(ctx.node);
}

/** Shape's slice of the input's dims ([start, end), opset 15), clamped as Slice clamps. */
export function shapeRange(ctx: AttributeContext): number[] {
  const x = inShape(ctx, 0);
  const r = x.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  return range(r).slice(clamp(attrInt(ctx.node, 'start', 0)), clamp(attrInt(ctx.node, 'end', r)));
}

/** The dims ConstantOfShape (input 0) and Expand (input 1) read from their shape input. */
export function shapeInput(ctx: AttributeContext, i: number): number[] {
  const dims = ctx.ints(i, "'shape'") ?? ctx.fail("input 'shape' is missing");
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) ctx.fail(`shape [${dims.join(', ')}] has a negative dimension`);
  return dims;
}

/** ConstantOfShape's output dims and fill value (a one-element tensor; float32 0 when omitted). */
export function constantOfShapeParams(ctx: AttributeContext): { dims: number[]; value: OnnxTensor | undefined } {
  const t = ctx.node.attributes.value;
  if (t !== undefined && (typeof t !== 'object' || Array.isArray(t) || (t as OnnxTensor).size !== 1)) {
    ctx.fail("attribute 'value' must be a one-element tensor");
  }
  return { dims: shapeInput(ctx, 0), value: t as OnnxTensor | undefined };
}

/** Expand's target shape. */
export function expandShape(ctx: AttributeContext): number[] {
  return shapeInput(ctx, 1);
}

/** Range's element count: max(ceil((limit - start) / delta), 0). */
export function rangeCount(ctx: AttributeContext): { start: number; delta: number; n: number } {
  const [start] = ctx.ints(0, "'start'") ?? ctx.fail("input 'start' is missing");
  const [limit] = ctx.ints(1, "'limit'") ?? ctx.fail("input 'limit' is missing");
  const [delta] = ctx.ints(2, "'delta'") ?? ctx.fail("input 'delta' is missing");
  if (delta === 0) ctx.fail('delta is 0');
  return { start, delta, n: Math.max(Math.ceil((limit - start) / delta), 0) };
}

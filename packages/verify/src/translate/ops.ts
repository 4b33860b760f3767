import * as tf from '@tensorflow/tfjs-core';
import type { CustomGradientFunc } from '@tensorflow/tfjs-core/dist/engine';
import { ModelError, groupSort2 as lipGroupSort2, wasmKernelsInstalled } from '@lip/train';
import { OnnxNode, OnnxTensor, attrFloat, attrInts, tensorToFloat64 } from '../onnx/read';
import {
  alphaParams,
  batchNormParams,
  castParams,
  clipRange,
  concatAxis,
  convSpec,
  convTransposeSpec,
  depthToSpaceParams,
  flattenAxis,
  gatherIndices,
  gemmParams,
  globalPoolParams,
  OpParser,
  padParams,
  PoolParams,
  poolParams,
  reduceAxes,
  reshapeTarget,
  sliceSelection,
  softmaxAxis,
  spaceToDepthParams,
  splitParams,
  squeezeAxes,
  topK as topKParams,
  transposePerm,
  unsqueezeAxes,
} from '../ops/attributes';
import type { FullOp } from '../ops/registry';
import { padIndexMap } from '../bound/shapes';
import { windowDivisor, WindowAxis } from '../bound/pool';
import { FastInputGradConv, convWithFastInputGrad } from './conv';
import { FUSED_GROUPSORT2, FUSED_L2POOL, FUSED_PERMUTE } from './fuse';
import { groupSort2Loop, hasJsKernels, loops, permuteRowsLoop, tiledL2PoolLoop } from './js_kernels';

/**
 * A value during translation. Image tensors (ONNX NCHW) may be held NHWC
 * (`nhwc: true`, `t` is `[N, H, W, C]`) so that convolutions and poolings run on
 * tfjs's native layout; every other op sees the ONNX layout.
 */
export interface Val {
  readonly t: tf.Tensor;
  readonly nhwc: boolean;
}

/** What an op translator may read at translation time. */
export interface OpContext {
  readonly node: OnnxNode;
  readonly opset: number;
  /** The constant behind input `i` (initializer or Constant node), or undefined when it is computed. */
  constant(i: number): OnnxTensor | undefined;
  /** Input `i` as integers, which must be constant; `what` names it in the error. */
  ints(i: number, what: string): number[];
  /** A kept tf tensor for a float constant input (created once). */
  floatConst(i: number): tf.Tensor;
  /**
   * The node's parameters by its op's registry parser (ops/attributes.ts), on
   * the input shapes of a one-image batch: read once, at translation time.
   */
  params<P>(parse: OpParser<P>): P;
  /** The same parser on the run-time input shapes, for parameters that depend on the batch size (memoized per shape). */
  paramsAt<P>(parse: OpParser<P>, inputs: readonly (Val | undefined)[]): P;
  /** Registers a cleanup run by `dispose()` of the translated model. */
  onDispose(f: () => void): void;
  /** A ModelError naming the node. */
  fail(why: string): ModelError;
}

/** A node run forward, with its backward pass (see `OpVjp`). */
export interface OpVjpResult {
  readonly outputs: Val[];
  /**
   * The cotangents of the inputs from those of the outputs (undefined where
   * none reached), each in the storage layout of its `Val`; undefined for
   * inputs that are not differentiated (weights, shapes).
   */
  backward(dOutputs: readonly (tf.Tensor | undefined)[]): (tf.Tensor | undefined)[];
}

/**
 * Runs one node forward and returns its backward pass, with no tfjs gradient
 * tape: the attacks' forward + input gradient (`TranslatedModel.vjp`). Null
 * when it cannot run on these inputs or this backend; the tape is used then.
 */
export type OpVjp = (inputs: (Val | undefined)[]) => OpVjpResult | null;

/** Runs one node: inputs in, outputs out (undefined for omitted optional inputs); `vjp` where the op has one. */
export type OpKernel = ((inputs: (Val | undefined)[]) => Val[]) & { readonly vjp?: OpVjp };

function withVjp(kernel: (inputs: (Val | undefined)[]) => Val[], vjp: OpVjp): OpKernel {
  return Object.assign(kernel, { vjp });
}

/** Builds the kernel of one node once, at translation time. */
export type OpTranslator = (ctx: OpContext) => OpKernel;

const plain = (t: tf.Tensor): Val => ({ t, nhwc: false });
const nhwc = (t: tf.Tensor): Val => ({ t, nhwc: true });

/** The ONNX (NCHW) view of a value. */
export function toOnnxLayout(v: Val): tf.Tensor {
  if (!v.nhwc) return v.t;
  const [n, h, w, c] = v.t.shape;
  if (c === 1 || (h === 1 && w === 1)) return tf.reshape(v.t, [n, c, h, w]);
  return tf.transpose(v.t, [0, 3, 1, 2]);
}

/** The ONNX shape of a value (NCHW for a value held NHWC). */
export function onnxShape(v: Val): number[] {
  if (!v.nhwc) return v.t.shape;
  const [n, h, w, c] = v.t.shape;
  return [n, c, h, w];
}

/** The NHWC view of a rank-4 value. */
function toNhwc(v: Val, ctx: OpContext): tf.Tensor4D {
  if (v.nhwc) return v.t as tf.Tensor4D;
  if (v.t.rank !== 4) throw ctx.fail(`expects a 4-D [N, C, H, W] input, got shape [${v.t.shape.join(', ')}]`);
  const [n, c, h, w] = v.t.shape;
  if (c === 1 || (h === 1 && w === 1)) return tf.reshape(v.t, [n, h, w, c]);
  return tf.transpose(v.t, [0, 2, 3, 1]) as tf.Tensor4D;
}

/** A layout change and the map of its cotangent back to the original storage. */
interface LayoutVjp<T extends tf.Tensor> {
  readonly t: T;
  back(d: tf.Tensor): tf.Tensor;
}

const same = (d: tf.Tensor): tf.Tensor => d;

/** `toOnnxLayout` with its backward. */
export function onnxLayoutVjp(v: Val): LayoutVjp<tf.Tensor> {
  if (!v.nhwc) return { t: v.t, back: same };
  const [n, h, w, c] = v.t.shape;
  const back = c === 1 || (h === 1 && w === 1) ? (d: tf.Tensor) => tf.reshape(d, [n, h, w, c]) : (d: tf.Tensor) => tf.transpose(d, [0, 2, 3, 1]);
  return { t: toOnnxLayout(v), back };
}

/** `toNhwc` with its backward. */
function nhwcVjp(v: Val, ctx: OpContext): LayoutVjp<tf.Tensor4D> {
  if (v.nhwc) return { t: v.t as tf.Tensor4D, back: same };
  const t = toNhwc(v, ctx);
  const [n, c, h, w] = v.t.shape;
  const back = c === 1 || (h === 1 && w === 1) ? (d: tf.Tensor) => tf.reshape(d, [n, c, h, w]) : (d: tf.Tensor) => tf.transpose(d, [0, 3, 1, 2]);
  return { t, back };
}

/** ONNX axis of a rank-4 NCHW tensor -> axis of its NHWC storage. */
const NHWC_AXIS = [0, 3, 1, 2];

function input(inputs: (Val | undefined)[], i: number, ctx: OpContext): Val {
  const v = inputs[i];
  if (!v) throw ctx.fail(`input ${i} is missing`);
  return v;
}

/** sqrt whose gradient stays finite at 0 (relu'd zeros reach L2 poolings); the forward value is exact. */
const safeSqrt = tf.customGrad(((x: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
  const value = tf.sqrt(x);
  save([value]);
  return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.div(dy, tf.mul(2, tf.maximum(saved[0], 1e-12))) };
}) as unknown as CustomGradientFunc<tf.Tensor>) as (x: tf.Tensor) => tf.Tensor;

/**
 * Elementwise op on broadcast operands. When one operand is held NHWC, the
 * others are brought to NHWC too: rank-4 ones transposed, lower-rank ones
 * (biases, scalars, `[C, 1, 1]` maps) padded to rank 4 and permuted.
 */
function elementwise(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): OpTranslator {
  return (ctx) => (inputs) => {
    const vals = inputs.filter((v): v is Val => v !== undefined);
    if (vals.length === 0) throw ctx.fail('has no inputs');
    const anyNhwc = vals.some((v) => v.nhwc);
    const maxRank = Math.max(...vals.map((v) => v.t.rank));
    if (!anyNhwc || maxRank > 4) {
      const ts = vals.map(toOnnxLayout);
      return [plain(ts.slice(1).reduce((acc, t) => f(acc, t), ts[0]))];
    }
    const ts = vals.map((v) => {
      if (v.nhwc) return v.t;
      if (v.t.rank === 4) return toNhwc(v, ctx);
      if (v.t.size === 1) return tf.reshape(v.t, []);
      const s = [...new Array<number>(4 - v.t.rank).fill(1), ...v.t.shape];
      if (s[1] === 1 || (s[2] === 1 && s[3] === 1)) return tf.reshape(v.t, [s[0], s[2], s[3], s[1]]);
      return tf.transpose(tf.reshape(v.t, s), [0, 2, 3, 1]);
    });
    return [nhwc(ts.slice(1).reduce((acc, t) => f(acc, t), ts[0]))];
  };
}

/** Identity and Dropout (inference): the input itself, cotangent passed through. */
const identity: OpTranslator = (ctx) =>
  withVjp(
    (inputs) => [input(inputs, 0, ctx)],
    (inputs) => ({
      outputs: [input(inputs, 0, ctx)],
      backward: ([d]) => [d],
    }),
  );

/** Relu; its backward `dy * step(x)` is tfjs's own gradient. */
const relu: OpTranslator = (ctx) =>
  withVjp(unary(tf.relu)(ctx), (inputs) => {
    const v = input(inputs, 0, ctx);
    return { outputs: [{ t: tf.relu(v.t), nhwc: v.nhwc }], backward: ([d]) => [d && tf.mul(d, tf.step(v.t))] };
  });

function unary(f: (x: tf.Tensor) => tf.Tensor): OpTranslator {
  return (ctx) => (inputs) => {
    const v = input(inputs, 0, ctx);
    return [{ t: f(v.t), nhwc: v.nhwc }];
  };
}

/**
 * Crops the input (NHWC) where the window geometry pads negatively
 * (onnxruntime's SAME padding when the kernel is smaller than the stride);
 * returns the remaining non-negative pads `[top, left, bottom, right]`.
 */
function cropNegativePads(x: tf.Tensor4D, axes: readonly WindowAxis[]): { x: tf.Tensor4D; pads: [number, number, number, number] } {
  const [a, b] = axes;
  let t = x;
  if (axes.some((ax) => ax.padBegin < 0 || ax.padEnd < 0)) {
    const cb = axes.map((ax) => Math.max(-ax.padBegin, 0));
    const ce = axes.map((ax) => Math.max(-ax.padEnd, 0));
    t = tf.slice(t, [0, cb[0], cb[1], 0], [-1, a.n - cb[0] - ce[0], b.n - cb[1] - ce[1], -1]);
  }
  return { x: t, pads: [Math.max(a.padBegin, 0), Math.max(b.padBegin, 0), Math.max(a.padEnd, 0), Math.max(b.padEnd, 0)] };
}

/** The input (NHWC) cropped and padded with `value` so that a 'valid' pooling reads the ONNX windows. */
function padWindows(x: tf.Tensor4D, axes: readonly WindowAxis[], value = 0): tf.Tensor4D {
  const { x: t, pads: p } = cropNegativePads(x, axes);
  if (p.every((v) => v === 0)) return t;
  return tf.pad(
    t,
    [
      [0, 0],
      [p[0], p[2]],
      [p[1], p[3]],
      [0, 0],
    ],
    value,
  );
}

/** The 2-D window geometry of a convolution or pooling, or a ModelError for the cases tfjs cannot run. */
function windows2d(ctx: OpContext, axes: readonly WindowAxis[]): [WindowAxis, WindowAxis] {
  if (axes.length !== 2) throw ctx.fail(`only 2-D windows are supported, got ${axes.length} spatial axes`);
  return [axes[0], axes[1]];
}

const conv: OpTranslator = (ctx) => {
  const w = ctx.constant(1);
  if (!w || w.dims.length !== 4) throw ctx.fail('needs a constant 4-D weight [cout, cin, kh, kw] (only 2-D convolutions are supported)');
  const spec = ctx.params(convSpec);
  if (spec.group !== 1) throw ctx.fail(`group=${spec.group} is not supported (only group=1)`);
  const [ah, aw] = windows2d(ctx, spec.axes);
  const [cout, cin, kh, kw] = w.dims;
  const strides: [number, number] = [ah.stride, aw.stride];
  const dil: [number, number] = [ah.dilation, aw.dilation];
  // [cout, cin, kh, kw] -> [kh, kw, cin, cout]
  const kernel = tf.keep(
    tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(w.data as ArrayLike<number>), [cout, cin, kh, kw]), [2, 3, 1, 0]) as tf.Tensor4D),
  );
  ctx.onDispose(() => kernel.dispose());
  const bias = ctx.constant(2) ? ctx.floatConst(2) : null;
  const fusedBias = bias && bias.rank === 1 && bias.shape[0] === cout ? (bias as tf.Tensor1D) : null;
  const convs = new Map<string, FastInputGradConv>();
  /** The NHWC input cropped where pads are negative, and the convolution for its size. */
  const prepare = (xIn: tf.Tensor4D, inputs: (Val | undefined)[]): { x: tf.Tensor4D; c: FastInputGradConv } => {
    if (xIn.shape[3] !== cin) throw ctx.fail(`input has ${xIn.shape[3]} channels, the weight expects ${cin}`);
    const { x, pads } = cropNegativePads(xIn, ctx.paramsAt(convSpec, inputs).axes);
    const key = `${xIn.shape[1]}x${xIn.shape[2]}`;
    let c = convs.get(key);
    if (!c) {
      c = convWithFastInputGrad(kernel, strides, pads, dil, fusedBias);
      ctx.onDispose(c.dispose);
      convs.set(key, c);
    }
    return { x, c };
  };
  return withVjp(
    (inputs) => {
      const { x, c } = prepare(toNhwc(input(inputs, 0, ctx), ctx), inputs);
      const y = c.apply(x);
      return [nhwc(bias && !fusedBias ? tf.add(y, bias) : y)];
    },
    (inputs) => {
      const { t: xIn, back } = nhwcVjp(input(inputs, 0, ctx), ctx);
      const { x, c } = prepare(xIn, inputs);
      const inputGrad = c.inputGrad;
      if (!inputGrad || x !== xIn || (bias && !fusedBias)) return null;
      return { outputs: [nhwc(c.forward(x))], backward: ([d]) => [d && back(inputGrad(d as tf.Tensor4D, x.shape))] };
    },
  );
};

/**
 * ConvTranspose (2-D, group 1, no dilation): tfjs's 'valid' conv2dTranspose
 * (output `(in - 1) s + k`), zeros past its end for output_padding (positions
 * no window writes), then the pads cropped, then the bias.
 */
const convTranspose: OpTranslator = (ctx) => {
  const w = ctx.constant(1);
  if (!w || w.dims.length !== 4) throw ctx.fail('needs a constant 4-D weight [cin, cout, kh, kw] (only 2-D transposed convolutions are supported)');
  const spec = ctx.params(convTransposeSpec);
  if (spec.group !== 1) throw ctx.fail(`group=${spec.group} is not supported (only group=1)`);
  if (spec.dilations[0] !== 1 || spec.dilations[1] !== 1) throw ctx.fail(`dilations [${spec.dilations.join(', ')}] are not supported (only 1)`);
  const [cin, cout, kh, kw] = w.dims;
  // [cin, cout, kh, kw] -> tfjs's [kh, kw, outDepth, inDepth]
  const kernel = tf.keep(
    tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(w.data as ArrayLike<number>), [cin, cout, kh, kw]), [2, 3, 1, 0]) as tf.Tensor4D),
  );
  ctx.onDispose(() => kernel.dispose());
  const bias = ctx.constant(2) ? ctx.floatConst(2) : null;
  const [pt, pl, pb, pr] = spec.pads;
  const [oph, opw] = spec.outputPadding;
  return (inputs) => {
    const x = toNhwc(input(inputs, 0, ctx), ctx);
    if (x.shape[3] !== cin) throw ctx.fail(`input has ${x.shape[3]} channels, the weight expects ${cin}`);
    const [n, h, wd] = x.shape;
    const full: [number, number] = [(h - 1) * spec.strides[0] + kh, (wd - 1) * spec.strides[1] + kw];
    const raw = tf.conv2dTranspose(x, kernel, [n, full[0], full[1], cout], spec.strides, 'valid');
    const padded =
      oph + opw > 0
        ? tf.pad(raw, [
            [0, 0],
            [0, oph],
            [0, opw],
            [0, 0],
          ])
        : raw;
    const y = tf.slice(padded, [0, pt, pl, 0], [n, full[0] + oph - pt - pb, full[1] + opw - pl - pr, cout]);
    return [nhwc(bias ? tf.add(y, bias) : y)];
  };
};

/** AveragePool / LpPool / MaxPool parameters, refusing what tfjs's poolings cannot run. */
function poolGeometry(ctx: OpContext): PoolParams & { k: [number, number]; s: [number, number] } {
  const p = ctx.params(poolParams);
  const [a, b] = windows2d(ctx, p.axes);
  if (p.ceilMode) throw ctx.fail('ceil_mode=1 is not supported');
  if (a.dilation !== 1 || b.dilation !== 1) throw ctx.fail('pooling dilations are not supported');
  return { ...p, k: [a.kernel, b.kernel], s: [a.stride, b.stride] };
}

/** Per-output-position `kh kw / divisor` (onnxruntime's divisors, bound/pool.ts), `[1, Ho, Wo, 1]`; null when all are 1. */
function divisorFix(axes: readonly WindowAxis[], countIncludePad: boolean): tf.Tensor4D | null {
  const [a, b] = axes;
  const fix = new Float32Array(a.out * b.out);
  let needed = false;
  for (let i = 0; i < a.out; i++) {
    for (let j = 0; j < b.out; j++) {
      const f = (a.kernel * b.kernel) / (windowDivisor(a, i, countIncludePad) * windowDivisor(b, j, countIncludePad));
      fix[i * b.out + j] = f;
      needed ||= f !== 1;
    }
  }
  return needed ? tf.tensor4d(fix, [1, a.out, b.out, 1]) : null;
}

/**
 * `avgPool(x, k, s, 'valid')`. For non-overlapping windows that tile the input
 * (s = k, k divides H and W) the gradient is `dy / (kh kw)` broadcast over each
 * window by reshapes (PERF-NOTES: about 3x faster than tfjs's AvgPoolGrad on wasm).
 */
export function meanPool(x: tf.Tensor4D, k: readonly [number, number], s: readonly [number, number]): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (s[0] !== k[0] || s[1] !== k[1] || h % k[0] !== 0 || w % k[1] !== 0) return tf.avgPool(x, [k[0], k[1]], [s[0], s[1]], 'valid');
  return tf.customGrad(((xin: tf.Tensor) => ({
    value: tf.avgPool(xin as tf.Tensor4D, [k[0], k[1]], [s[0], s[1]], 'valid'),
    gradFunc: (dy: tf.Tensor) => {
      const ho = h / k[0];
      const wo = w / k[1];
      const spread = tf.mul(tf.reshape(dy, [n, ho, 1, wo, 1, c]), tf.fill([1, 1, k[0], 1, k[1], 1], 1 / (k[0] * k[1])));
      return tf.reshape(spread, [n, h, w, c]);
    },
  })) as unknown as CustomGradientFunc<tf.Tensor>)(x) as tf.Tensor4D;
}

const averagePool: OpTranslator = (ctx) => {
  const { axes, k, s, countIncludePad } = poolGeometry(ctx);
  const made = divisorFix(axes, countIncludePad);
  const fix = made && tf.keep(made);
  if (fix) ctx.onDispose(() => fix.dispose());
  return (inputs) => {
    const x = toNhwc(input(inputs, 0, ctx), ctx);
    const avg = meanPool(padWindows(x, axes), k, s);
    return [nhwc(fix ? tf.mul(avg, fix) : avg)];
  };
};

/**
 * L2 pooling over windows that tile the input: `y = sqrt(sum_window x^2)`, with
 * the gradient `dx = x * upsample(dy / y)` written with reshapes (one fused op
 * instead of square, pool, scale and sqrt each with its own gradient). Where
 * y = 0 the window is all zeros and so is its gradient.
 */
export function tiledL2Pool(x: tf.Tensor4D, k: readonly [number, number]): tf.Tensor4D {
  // wasm and cpu: one loop each way (js_kernels.ts).
  if (hasJsKernels()) return tiledL2PoolLoop(x, k);
  const [n, h, w, c] = x.shape;
  const ho = h / k[0];
  const wo = w / k[1];
  return tf.customGrad(((xin: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
    const y = tf.sqrt(tf.mul(tf.avgPool(tf.square(xin as tf.Tensor4D), [k[0], k[1]], [k[0], k[1]], 'valid'), k[0] * k[1]));
    save([xin, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const ratio = tf.reshape(tf.div(dy, tf.maximum(saved[1], 1e-30)), [n, ho, 1, wo, 1, c]);
        const up = tf.mul(tf.reshape(saved[0], [n, ho, k[0], wo, k[1], c]), ratio);
        return tf.reshape(up, [n, h, w, c]);
      },
    };
  }) as unknown as CustomGradientFunc<tf.Tensor>)(x) as tf.Tensor4D;
}

const lpPool: OpTranslator = (ctx) => {
  const { axes, k, s, p: pNorm } = poolGeometry(ctx);
  if (pNorm !== 2) throw ctx.fail(`only p=2 is supported, got p=${pNorm}`);
  const unpadded = axes.every((a) => a.padBegin === 0 && a.padEnd === 0);
  return (inputs) => {
    const x = toNhwc(input(inputs, 0, ctx), ctx);
    if (unpadded && s[0] === k[0] && s[1] === k[1] && x.shape[1] % k[0] === 0 && x.shape[2] % k[1] === 0) {
      return [nhwc(tiledL2Pool(x, k))];
    }
    // sqrt(sum over the window of x^2); padding adds zeros to the sum.
    const sum = tf.mul(meanPool(padWindows(tf.square(x), axes), k, s), k[0] * k[1]);
    return [nhwc(safeSqrt(sum))];
  };
};

const maxPool: OpTranslator = (ctx) => {
  if (ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '') throw ctx.fail('the Indices output is not supported');
  const { axes, k, s } = poolGeometry(ctx);
  return (inputs) => {
    const x = toNhwc(input(inputs, 0, ctx), ctx);
    return [nhwc(tf.maxPool(padWindows(x, axes, -Infinity), k, s, 'valid'))];
  };
};

const globalPool =
  (kind: 'avg' | 'max' | 'l2'): OpTranslator =>
  (ctx) => {
    const { p } = ctx.params(globalPoolParams);
    if (kind === 'l2' && p !== 2) throw ctx.fail(`only p=2 is supported, got p=${p}`);
    return (inputs) => {
      const x = toNhwc(input(inputs, 0, ctx), ctx);
      if (kind === 'avg') return [nhwc(tf.mean(x, [1, 2], true))];
      if (kind === 'max') return [nhwc(tf.max(x, [1, 2], true))];
      return [nhwc(safeSqrt(tf.sum(tf.square(x), [1, 2], true)))];
    };
  };

/**
 * `a B (+ bias)` for a constant B whose input gradient `dy B^T` uses a kept
 * B^T (tfjs's own gradient multiplies with transposeB, which is slow on
 * wasm). A constant bias is added inside the matMul kernel (one op less each way).
 */
function constMatMul(
  b: tf.Tensor2D,
  bias: tf.Tensor1D | null,
  ctx: OpContext,
): {
  apply: (a: tf.Tensor2D) => tf.Tensor2D;
  forward: (a: tf.Tensor2D) => tf.Tensor2D;
  inputGrad: (dy: tf.Tensor2D) => tf.Tensor2D;
} {
  const bt = tf.keep(tf.transpose(b) as tf.Tensor2D);
  ctx.onDispose(() => bt.dispose());
  const forward = (a: tf.Tensor2D): tf.Tensor2D => (bias ? (tf.fused.matMul({ a, b, bias }) as tf.Tensor2D) : tf.matMul(a, b));
  const inputGrad = (dy: tf.Tensor2D): tf.Tensor2D => tf.matMul(dy, bt);
  const apply = tf.customGrad(((a: tf.Tensor) => ({
    value: forward(a as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor) => inputGrad(dy as tf.Tensor2D),
  })) as unknown as CustomGradientFunc<tf.Tensor>) as (a: tf.Tensor2D) => tf.Tensor2D;
  return { apply, forward, inputGrad };
}

const gemm: OpTranslator = (ctx) => {
  const { transA, transB, alpha, beta } = ctx.params(gemmParams);
  let fixedB: ReturnType<typeof constMatMul> | null = null;
  let biasFused = false;
  const bConst = ctx.constant(1);
  if (bConst && bConst.dims.length === 2) {
    const raw = ctx.floatConst(1) as tf.Tensor2D;
    const b = tf.keep((transB ? tf.transpose(raw) : tf.clone(raw)) as tf.Tensor2D);
    ctx.onDispose(() => b.dispose());
    // A constant C of one row, [K] or [1, K]: beta C becomes the matMul's bias.
    const c = ctx.constant(2);
    const k = b.shape[1];
    let bias: tf.Tensor1D | null = null;
    if (c && alpha === 1 && c.size === k && k > 1 && (c.dims.length === 1 || (c.dims.length === 2 && c.dims[0] === 1))) {
      const cT = ctx.floatConst(2);
      bias = tf.keep(tf.tidy(() => tf.mul(tf.reshape(cT, [k]), beta) as tf.Tensor1D));
      const kept = bias;
      ctx.onDispose(() => kept.dispose());
      biasFused = true;
    }
    fixedB = constMatMul(b, bias, ctx);
  }
  const kernel = (inputs: (Val | undefined)[]): Val[] => {
    const a = toOnnxLayout(input(inputs, 0, ctx));
    if (a.rank !== 2) throw ctx.fail(`expects a 2-D operand A, got [${a.shape}]`);
    let y: tf.Tensor;
    if (fixedB) {
      y = fixedB.apply((transA ? tf.transpose(a) : a) as tf.Tensor2D);
    } else {
      const b = toOnnxLayout(input(inputs, 1, ctx));
      if (b.rank !== 2) throw ctx.fail(`expects a 2-D operand B, got [${b.shape}]`);
      y = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, transA, transB);
    }
    if (alpha !== 1) y = tf.mul(y, alpha);
    const c = inputs[2];
    if (c && !biasFused) y = tf.add(y, beta === 1 ? toOnnxLayout(c) : tf.mul(toOnnxLayout(c), beta));
    return [plain(y)];
  };
  // Constant B, no transposed A, alpha 1, C absent or fused: `a B (+ bias)`, backward `dy B^T`.
  const simple = fixedB !== null && !transA && alpha === 1 && (biasFused || !ctx.node.inputs[2]);
  if (!simple) return kernel;
  const { forward, inputGrad } = fixedB!;
  return withVjp(kernel, (inputs) => {
    const { t: a, back } = onnxLayoutVjp(input(inputs, 0, ctx));
    if (a.rank !== 2) throw ctx.fail(`expects a 2-D operand A, got [${a.shape}]`);
    return { outputs: [plain(forward(a as tf.Tensor2D))], backward: ([d]) => [d && back(inputGrad(d as tf.Tensor2D))] };
  });
};

const matMul: OpTranslator = (ctx) => (inputs) => {
  const a = toOnnxLayout(input(inputs, 0, ctx));
  const b = toOnnxLayout(input(inputs, 1, ctx));
  if (a.rank === 1 || b.rank === 1) throw ctx.fail('1-D MatMul operands are not supported');
  if (b.rank === 2 && a.rank > 2) {
    const lead = a.shape.slice(0, -1);
    const y = tf.matMul(tf.reshape(a, [-1, (a.shape as number[])[a.rank - 1]]), b);
    return [plain(tf.reshape(y, [...lead, (b.shape as number[])[1]]))];
  }
  return [plain(tf.matMul(a, b))];
};

const concat: OpTranslator = (ctx) => {
  const axis = ctx.params(concatAxis);
  return (inputs) => {
    const vals = inputs.filter((v): v is Val => v !== undefined);
    if (vals.some((v) => v.nhwc) && vals.every((v) => v.nhwc || v.t.rank === 4)) {
      return [
        nhwc(
          tf.concat(
            vals.map((v) => toNhwc(v, ctx)),
            NHWC_AXIS[axis],
          ),
        ),
      ];
    }
    return [plain(tf.concat(vals.map(toOnnxLayout), axis))];
  };
};

const split: OpTranslator = (ctx) => (inputs) => {
  const v = input(inputs, 0, ctx);
  const { axis, sizes } = ctx.paramsAt(splitParams, inputs);
  return tf.split(v.t, sizes, v.nhwc ? NHWC_AXIS[axis] : axis).map((t) => ({ t, nhwc: v.nhwc }));
};

/** The written-out backward of Reshape and Flatten: the ONNX view reshaped to `shapeOf(view)`, the cotangent reshaped back. */
function reshapeVjp(ctx: OpContext, shapeOf: (x: tf.Tensor, inputs: (Val | undefined)[]) => number[]): OpVjp {
  return (inputs) => {
    const { t, back } = onnxLayoutVjp(input(inputs, 0, ctx));
    return { outputs: [plain(tf.reshape(t, shapeOf(t, inputs)))], backward: ([d]) => [d && back(tf.reshape(d, t.shape))] };
  };
}

const reshape: OpTranslator = (ctx) => {
  const target = (_x: tf.Tensor, inputs: (Val | undefined)[]): number[] => ctx.paramsAt(reshapeTarget, inputs);
  return withVjp(
    (inputs) => {
      const x = toOnnxLayout(input(inputs, 0, ctx));
      return [plain(tf.reshape(x, target(x, inputs)))];
    },
    reshapeVjp(ctx, target),
  );
};

const flatten: OpTranslator = (ctx) => {
  const axis = ctx.params(flattenAxis);
  const flat = (x: tf.Tensor): number[] => [x.shape.slice(0, axis).reduce((p, d) => p * d, 1), x.shape.slice(axis).reduce((p, d) => p * d, 1)];
  return withVjp(
    (inputs) => {
      const x = toOnnxLayout(input(inputs, 0, ctx));
      return [plain(tf.reshape(x, flat(x)))];
    },
    reshapeVjp(ctx, flat),
  );
};

const transpose: OpTranslator = (ctx) => {
  const perm = ctx.params(transposePerm);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  // NCHW -> NHWC of a value already held NHWC is free.
  const free = (v: Val): boolean => v.nhwc && perm.join() === '0,2,3,1';
  return withVjp(
    (inputs) => {
      const v = input(inputs, 0, ctx);
      if (free(v)) return [plain(v.t)];
      return [plain(tf.transpose(toOnnxLayout(v), perm))];
    },
    (inputs) => {
      const v = input(inputs, 0, ctx);
      if (free(v)) return { outputs: [plain(v.t)], backward: ([d]) => [d] };
      const { t, back } = onnxLayoutVjp(v);
      return { outputs: [plain(tf.transpose(t, perm))], backward: ([d]) => [d && back(tf.transpose(d, inverse))] };
    },
  );
};

/** Squeeze by reshape (the axes depend on the batch size when none are given). */
const squeeze: OpTranslator = (ctx) => (inputs) => {
  const x = toOnnxLayout(input(inputs, 0, ctx));
  const drop = ctx.paramsAt(squeezeAxes, inputs);
  return [
    plain(
      tf.reshape(
        x,
        x.shape.filter((_, i) => !drop.has(i)),
      ),
    ),
  ];
};

const unsqueeze: OpTranslator = (ctx) => {
  const axes = ctx.params(unsqueezeAxes);
  return (inputs) => {
    const x = toOnnxLayout(input(inputs, 0, ctx));
    const shape: number[] = [];
    let k = 0;
    for (let i = 0; i < x.rank + axes.size; i++) shape.push(axes.has(i) ? 1 : x.shape[k++]);
    return [plain(tf.reshape(x, shape))];
  };
};

/** One-hot `[rows, k, n]` of the top-k entries of each row; a constant for the gradient (tfjs has no TopK gradient). */
const selectTopK = (flat: tf.Tensor, k: number, largest: boolean): tf.Tensor =>
  tf.customGrad(((x: tf.Tensor) => {
    const { indices } = tf.topk(largest ? x : tf.neg(x), k, true);
    // int32 one-hot then cast: the wasm OneHot kernel ignores a float32 dtype (tfjs 4.22).
    return { value: tf.cast(tf.oneHot(indices, x.shape[1] as number), 'float32'), gradFunc: () => tf.zerosLike(x) };
  }) as unknown as CustomGradientFunc<tf.Tensor>)(flat);

/**
 * TopK in a differentiable form: the indices come from tf.topk (not
 * differentiated), the values are gathered with a one-hot matrix product so
 * the gradient flows to the selected entries.
 */
const topK: OpTranslator = (ctx) => {
  const { k, axis: a, largest } = ctx.params(topKParams);
  if (k < 1) throw ctx.fail(`K=${k} is not supported (K >= 1)`);
  return (inputs) => {
    const x = toOnnxLayout(input(inputs, 0, ctx));
    const rank = x.rank;
    const perm = Array.from({ length: rank }, (_, i) => i)
      .filter((i) => i !== a)
      .concat([a]);
    const inv = perm.map((_, i) => perm.indexOf(i));
    const moved = a === rank - 1 ? x : tf.transpose(x, perm);
    const n = moved.shape[rank - 1];
    const lead = moved.shape.slice(0, -1);
    const rows = lead.reduce((p, d) => p * d, 1);
    const flat = tf.reshape(moved, [rows, n]);
    const onehot = selectTopK(flat, k, largest);
    const indices = tf.cast(tf.argMax(onehot, 2), 'int32');
    const values = tf.reshape(tf.matMul(onehot, tf.reshape(flat, [rows, n, 1])), [...lead, k]);
    const idx = tf.reshape(indices, [...lead, k]);
    const back = (t: tf.Tensor): tf.Tensor => (a === rank - 1 ? t : tf.transpose(t, inv));
    return [plain(back(values)), plain(back(idx))];
  };
};

const constant: OpTranslator = (ctx) => {
  const t = ctx.floatConst(-1);
  return () => [plain(t)];
};

const softmax: OpTranslator = (ctx) => {
  const { axis } = ctx.params(softmaxAxis);
  return (inputs) => {
    const x = toOnnxLayout(input(inputs, 0, ctx));
    if (axis !== x.rank - 1) throw ctx.fail('softmax is supported on the last axis only');
    return [plain(tf.softmax(x))];
  };
};

/** ReduceL2 / ReduceMax / ReduceMin; no reduced axis (noop_with_empty_axes) is the identity. */
const reduce =
  (kind: 'l2' | 'max' | 'min'): OpTranslator =>
  (ctx) => {
    const { axes, keep } = ctx.params(reduceAxes);
    const ax = [...axes].sort((p, q) => p - q);
    return (inputs) => {
      const x = toOnnxLayout(input(inputs, 0, ctx));
      if (ax.length === 0) return [plain(kind === 'l2' ? tf.abs(x) : x)];
      if (kind === 'max') return [plain(tf.max(x, ax, keep))];
      if (kind === 'min') return [plain(tf.min(x, ax, keep))];
      return [plain(safeSqrt(tf.sum(tf.square(x), ax, keep)))];
    };
  };

/** Gathers each axis of `x` by its index map (padIndexMap); -1 entries take `value`. */
function gatherAxes(x: tf.Tensor, maps: number[][], value: number): tf.Tensor {
  let t = x;
  maps.forEach((m, axis) => {
    if (m.length === t.shape[axis] && m.every((j, i) => j === i)) return;
    const inside = m.filter((j) => j >= 0);
    // A contiguous run (constant padding, cropping) is a slice: its gradient is a pad, where gather's needs
    // UnsortedSegmentSum, a kernel tfjs-backend-wasm lacks. Reflect and edge padding repeat indices and gather.
    const run = inside.length > 0 && inside.every((j, i) => j === inside[0] + i);
    const body = !run
      ? tf.gather(t, tf.tensor1d(inside, 'int32'), axis)
      : inside.length === t.shape[axis]
        ? t
        : tf.slice(
            t,
            t.shape.map((_, a) => (a === axis ? inside[0] : 0)),
            t.shape.map((d, a) => (a === axis ? inside.length : d)),
          );
    const before = m.findIndex((j) => j >= 0);
    const after = m.length - inside.length - Math.max(before, 0);
    if (inside.length === 0 || inside.length === m.length) {
      t =
        inside.length === 0
          ? tf.fill(
              t.shape.map((d, i) => (i === axis ? m.length : d)),
              value,
            )
          : body;
      return;
    }
    const widths = t.shape.map((_, i) => (i === axis ? [before, after] : [0, 0]) as [number, number]);
    t = tf.pad(body, widths, value);
  });
  return t;
}

/** Pad (constant, reflect, edge, wrap; negative pads crop). */
const pad: OpTranslator = (ctx) => {
  const padded = (x: tf.Tensor, inputs: (Val | undefined)[]): tf.Tensor => {
    const { pads, mode, value } = ctx.paramsAt(padParams, inputs);
    return gatherAxes(
      x,
      x.shape.map((n, i) => padIndexMap(n, pads[i], pads[i + x.rank], mode)),
      value,
    );
  };
  return withVjp(
    (inputs) => [plain(padded(toOnnxLayout(input(inputs, 0, ctx)), inputs))],
    (inputs) => {
      // Constant mode: dy cropped to the entries copied from x, zeros where pads < 0 cropped x.
      const { pads, mode } = ctx.paramsAt(padParams, inputs);
      if (mode !== 'constant') return null;
      const { t: x, back } = onnxLayoutVjp(input(inputs, 0, ctx));
      const r = x.rank;
      const kept = x.shape.map((n, a) => n - Math.max(0, -pads[a]) - Math.max(0, -pads[a + r]));
      const backward = (d: tf.Tensor): tf.Tensor => {
        if (kept.some((l) => l <= 0)) return tf.zerosLike(x);
        const inside = tf.slice(
          d,
          pads.slice(0, r).map((p) => Math.max(0, p)),
          kept,
        );
        return tf.pad(
          inside,
          x.shape.map((_, a) => [Math.max(0, -pads[a]), Math.max(0, -pads[a + r])] as [number, number]),
        );
      };
      return { outputs: [plain(padded(x, inputs))], backward: ([d]) => [d && back(backward(d))] };
    },
  );
};

/** Slice (any step sign). */
const slice: OpTranslator = (ctx) => (inputs) => {
  const x = toOnnxLayout(input(inputs, 0, ctx));
  const idx = ctx.paramsAt(sliceSelection, inputs);
  let t = x;
  idx.forEach((m, axis) => {
    if (m.length === t.shape[axis] && m.every((j, i) => j === i)) return;
    if (m.length > 0 && m.every((j, i) => j === m[0] + i))
      t = tf.slice(
        t,
        t.shape.map((_, a) => (a === axis ? m[0] : 0)),
        t.shape.map((d, a) => (a === axis ? m.length : d)),
      );
    else t = tf.gather(t, tf.tensor1d(m, 'int32'), axis);
  });
  return [plain(t)];
};

/** BatchNormalization in inference: x * s + (B - mean * s), s = scale / sqrt(var + eps), per channel (axis 1). */
const batchNorm: OpTranslator = (ctx) => {
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => {
    const c = ctx.constant(i);
    if (!c) throw ctx.fail(`parameter input ${i} must be a constant`);
    return tensorToFloat64(c);
  });
  const eps = ctx.params(batchNormParams).epsilon;
  const s = scale.map((g, c) => g / Math.sqrt(variance[c] + eps));
  const shift = bias.map((bb, c) => bb - mean[c] * s[c]);
  const sT = tf.keep(tf.tensor1d(Float32Array.from(s)));
  const bT = tf.keep(tf.tensor1d(Float32Array.from(shift)));
  ctx.onDispose(() => {
    sT.dispose();
    bT.dispose();
  });
  return (inputs) => {
    const v = input(inputs, 0, ctx);
    if (v.nhwc) return [nhwc(tf.add(tf.mul(v.t, sT), bT))];
    const shape = v.t.shape.map((d, i) => (i === 1 ? d : 1));
    return [plain(tf.add(tf.mul(v.t, tf.reshape(sT, shape)), tf.reshape(bT, shape)))];
  };
};

/** Pow by a constant scalar exponent (x^2 and m^0.5 in L2 poolings). */
const pow: OpTranslator = (ctx) => {
  const e = ctx.constant(1);
  if (!e || e.size !== 1) throw ctx.fail('the exponent must be a constant scalar');
  const p = Number(e.data[0]);
  return (inputs) => {
    const v = input(inputs, 0, ctx);
    const t = p === 2 ? tf.square(v.t) : p === 0.5 ? safeSqrt(v.t) : p === 1 ? v.t : tf.pow(v.t, p);
    return [{ t, nhwc: v.nhwc }];
  };
};

const clip: OpTranslator = (ctx) => {
  const { min: lo, max: hi } = ctx.params(clipRange);
  return (inputs) => {
    const v = input(inputs, 0, ctx);
    return [{ t: tf.minimum(tf.maximum(v.t, lo), hi), nhwc: v.nhwc }];
  };
};

const leakyRelu: OpTranslator = (ctx) => {
  const { alpha } = ctx.params(alphaParams);
  return (inputs) => {
    const v = input(inputs, 0, ctx);
    return [{ t: tf.leakyRelu(v.t, alpha), nhwc: v.nhwc }];
  };
};

const elu: OpTranslator = (ctx) => {
  const { alpha } = ctx.params(alphaParams);
  return (inputs) => {
    const v = input(inputs, 0, ctx);
    return [{ t: alpha === 1 ? tf.elu(v.t) : tf.where(tf.greater(v.t, 0), v.t, tf.mul(tf.sub(tf.exp(v.t), 1), alpha)), nhwc: v.nhwc }];
  };
};

/** Cast between float types is the identity on float32 tensors; casts to integers are refused (not differentiable). */
const cast: OpTranslator = (ctx) => {
  const { to } = ctx.params(castParams);
  if (!to.startsWith('float')) throw ctx.fail(`a cast of input-dependent values to element type ${to} is not supported`);
  return (inputs) => [input(inputs, 0, ctx)];
};

const gather: OpTranslator = (ctx) => (inputs) => {
  const x = toOnnxLayout(input(inputs, 0, ctx));
  const { axis, indices, indicesShape } = ctx.paramsAt(gatherIndices, inputs);
  const g = tf.gather(x, tf.tensor1d(indices, 'int32'), axis);
  return [plain(tf.reshape(g, [...x.shape.slice(0, axis), ...indicesShape, ...x.shape.slice(axis + 1)]))];
};

/** SpaceToDepth / DepthToSpace on the NHWC storage (tfjs's kernels have no gradient). */
const spaceToDepth: OpTranslator = (ctx) => {
  const { blockSize: b } = ctx.params(spaceToDepthParams);
  return (inputs) => {
    const x = toNhwc(input(inputs, 0, ctx), ctx);
    const [n, h, w, c] = x.shape;
    const r = tf.reshape(x, [n, h / b, b, w / b, b, c]);
    return [nhwc(tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [n, h / b, w / b, b * b * c]))];
  };
};

const depthToSpace: OpTranslator = (ctx) => {
  const { blockSize: b, mode } = ctx.params(depthToSpaceParams);
  return (inputs) => {
    const x = toNhwc(input(inputs, 0, ctx), ctx);
    const [n, h, w, c] = x.shape;
    const co = c / (b * b);
    const t =
      mode === 'CRD'
        ? tf.transpose(tf.reshape(x, [n, h, w, co, b, b]), [0, 1, 4, 2, 5, 3])
        : tf.transpose(tf.reshape(x, [n, h, w, b, b, co]), [0, 1, 3, 2, 4, 5]);
    return [nhwc(tf.reshape(t, [n, h * b, w * b, co]))];
  };
};

/**
 * True on wasm with @lip/train's kernels installed (`selectBackend('wasm')`):
 * GroupSort2 then runs as @lip/train's `groupSort2`, one SIMD pass each way
 * (or its composed form under `LIP_KERNELS=composed`), same values and
 * gradient (ties: no swap) as the loop kernels.
 */
function lipWasmKernels(): boolean {
  return tf.getBackend() === 'wasm' && wasmKernelsInstalled();
}

/**
 * Fused GroupSort2 (see fuse.ts) on the NHWC view `[-1, C]`:
 * `y = x + relu(x P) Q`, with `(x P)_i = x_{2i} - x_{2i+1}` and Q writing
 * `-r` to channel 2i and `+r` to 2i+1: min first, max second (PERF-NOTES).
 * Only one product per output is non-zero, so the result is min/max up to
 * one rounding of the difference.
 */
const groupSort2: OpTranslator = (ctx) => {
  const kernels = new Map<number, (x: tf.Tensor2D) => tf.Tensor2D>();
  const kept: tf.Tensor[] = [];
  ctx.onDispose(() => kept.forEach((t) => t.dispose()));
  const kernelFor = (c: number): ((x: tf.Tensor2D) => tf.Tensor2D) => {
    let k = kernels.get(c);
    if (k) return k;
    const h = c / 2;
    const p = new Float32Array(c * h);
    const q = new Float32Array(h * c);
    for (let i = 0; i < h; i++) {
      p[2 * i * h + i] = 1;
      p[(2 * i + 1) * h + i] = -1;
      q[i * c + 2 * i] = -1;
      q[i * c + 2 * i + 1] = 1;
    }
    // P^T = -Q and Q^T = -P; kept pre-transposed because transposed matmuls are slow on wasm.
    const [P, Q, PT, QT] = [
      tf.tensor2d(p, [c, h]),
      tf.tensor2d(q, [h, c]),
      tf.tensor2d(
        q.map((v) => -v),
        [h, c],
      ),
      tf.tensor2d(
        p.map((v) => -v),
        [c, h],
      ),
    ].map((t) => tf.keep(t));
    kept.push(P, Q, PT, QT);
    // y = x + relu(x P) Q;  dx = dy + ((dy Q^T) * step(x P)) P^T.
    k = tf.customGrad(((x: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
      const d = tf.matMul(x as tf.Tensor2D, P);
      save([d]);
      return {
        value: tf.add(x, tf.matMul(tf.relu(d), Q)),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.add(dy, tf.matMul(tf.mul(tf.matMul(dy as tf.Tensor2D, QT), tf.step(saved[0])), PT)),
      };
    }) as unknown as CustomGradientFunc<tf.Tensor>) as (x: tf.Tensor2D) => tf.Tensor2D;
    kernels.set(c, k);
    return k;
  };
  const checkEven = (c: number): void => {
    if (c % 2 !== 0) throw ctx.fail(`GroupSort2 needs an even number of channels (features), got ${c}`);
  };
  return withVjp(
    (inputs) => {
      const v = input(inputs, 0, ctx);
      if (v.t.rank === 2) {
        const c = v.t.shape[1] as number;
        checkEven(c);
        if (lipWasmKernels()) return [plain(lipGroupSort2(v.t))];
        // wasm and cpu: one loop each way, exact min/max (js_kernels.ts).
        if (hasJsKernels()) return [plain(groupSort2Loop(v.t))];
        return [plain(kernelFor(c)(v.t as tf.Tensor2D))];
      }
      const x = toNhwc(v, ctx);
      const c = x.shape[3];
      checkEven(c);
      if (lipWasmKernels()) return [nhwc(lipGroupSort2(x))];
      if (hasJsKernels()) return [nhwc(groupSort2Loop(x))];
      const y = kernelFor(c)(tf.reshape(x, [-1, c]) as tf.Tensor2D);
      return [nhwc(tf.reshape(y, x.shape))];
    },
    (inputs) => {
      // Backward by the loop kernel (wasm and cpu), whatever ran forward: the same routing.
      if (!hasJsKernels()) return null;
      const v = input(inputs, 0, ctx);
      const { t: x, back } = v.t.rank === 2 ? { t: v.t, back: same } : nhwcVjp(v, ctx);
      checkEven(x.shape[x.rank - 1]);
      const y = lipWasmKernels() ? lipGroupSort2(x) : loops.groupSort2(x);
      return { outputs: [{ t: y, nhwc: x.rank === 4 }], backward: ([d]) => [d && back(loops.groupSort2Grad(x, d))] };
    },
  );
};

/** One translation per registry op that is not only folded away, by category as in the registry. */
const TRANSLATIONS = {
  Abs: unary(tf.abs),
  Neg: unary(tf.neg),
  Relu: relu,
  LeakyRelu: leakyRelu,
  Elu: elu,
  Sigmoid: unary(tf.sigmoid),
  Tanh: unary(tf.tanh),
  Clip: clip,
  Sqrt: unary(safeSqrt),
  Sign: unary(tf.sign),
  Softmax: softmax,
  Add: elementwise(tf.add),
  Sub: elementwise(tf.sub),
  Mul: elementwise(tf.mul),
  Div: elementwise(tf.div),
  Pow: pow,
  Max: elementwise(tf.maximum),
  Min: elementwise(tf.minimum),
  Sum: elementwise(tf.add),
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matMul,
  BatchNormalization: batchNorm,
  AveragePool: averagePool,
  MaxPool: maxPool,
  LpPool: lpPool,
  GlobalAveragePool: globalPool('avg'),
  GlobalLpPool: globalPool('l2'),
  GlobalMaxPool: globalPool('max'),
  ReduceL2: reduce('l2'),
  ReduceMax: reduce('max'),
  ReduceMin: reduce('min'),
  TopK: topK,
  Identity: identity,
  Dropout: identity,
  Cast: cast,
  Reshape: reshape,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Transpose: transpose,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  Slice: slice,
  Split: split,
  Gather: gather,
  Concat: concat,
  Pad: pad,
  Constant: constant,
} satisfies Record<FullOp, OpTranslator>;

/** The operator table: one row per translatable registry op. */
export const OP_TABLE: ReadonlyArray<readonly [string, OpTranslator]> = Object.entries(TRANSLATIONS);

/** Op types the translator supports, sorted. */
export const TRANSLATABLE_OPS: readonly string[] = OP_TABLE.map(([op]) => op).sort();

/** Fused portable L2 pooling (see fuse.ts): `scale * sqrt(sum over tiling windows of x^2)`. */
const l2Pool: OpTranslator = (ctx) => {
  // An internal node made by fuse.ts (not an ONNX op): its attributes are ours.
  const [kh, kw] = attrInts(ctx.node, 'kernel_shape', []);
  const k: [number, number] = [kh, kw];
  const scale = attrFloat(ctx.node, 'scale', 1);
  const tiles = (x: tf.Tensor4D): boolean => x.shape[1] % k[0] === 0 && x.shape[2] % k[1] === 0;
  return withVjp(
    (inputs) => {
      const x = toNhwc(input(inputs, 0, ctx), ctx);
      if (!tiles(x)) {
        const pooled = safeSqrt(tf.mul(tf.avgPool(tf.square(x), k, k, 'valid'), k[0] * k[1]));
        return [nhwc(scale === 1 ? pooled : tf.mul(pooled, scale))];
      }
      const pooled = tiledL2Pool(x, k);
      return [nhwc(scale === 1 ? pooled : tf.mul(pooled, scale))];
    },
    (inputs) => {
      const { t: x, back } = nhwcVjp(input(inputs, 0, ctx), ctx);
      if (!hasJsKernels() || !tiles(x)) return null;
      const pooled = loops.tiledL2Pool(x, k);
      return {
        outputs: [nhwc(scale === 1 ? pooled : tf.mul(pooled, scale))],
        backward: ([d]) => [d && back(loops.tiledL2PoolGrad(x, pooled, (scale === 1 ? d : tf.mul(d, scale)) as tf.Tensor4D, k))],
      };
    },
  );
};

/** Row-major position in NHWC storage of each entry of a per-image `[C, H, W]` (row-major ONNX order). */
function nhwcPositions([c, h, w]: readonly number[]): Int32Array {
  const at = new Int32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < h * w; i++) at[ch * h * w + i] = i * c + ch;
  return at;
}

/**
 * Fused layout chain (see fuse.ts): one gather of each image's entries, read
 * from and written to the storage order (NCHW or NHWC, `Val`), so the layout
 * transposes around it cost nothing. The gradient gathers by the inverse
 * permutation (tf.gather's own gradient needs a scatter kernel wasm lacks).
 * Where the storage orders make it the identity, a reshape.
 */
const permute: OpTranslator = (ctx) => {
  // An internal node made by fuse.ts (not an ONNX op): its attributes are ours.
  const source = Int32Array.from(attrInts(ctx.node, 'source', []));
  const inShape = attrInts(ctx.node, 'in_shape', []);
  const outShape = attrInts(ctx.node, 'out_shape', []);
  const size = source.length;
  type Plan = {
    nhwcOut: boolean;
    gather: ((x: tf.Tensor2D) => tf.Tensor2D) | null;
    /** The loop kernel's index tensors, forward and backward (null where `gather` is). */
    orders: [tf.Tensor1D, tf.Tensor1D] | null;
  };
  const plans = new Map<boolean, Plan>();
  const kept: tf.Tensor[] = [];
  ctx.onDispose(() => kept.forEach((t) => t.dispose()));
  const planFor = (nhwcIn: boolean): Plan => {
    let plan = plans.get(nhwcIn);
    if (plan) return plan;
    const inAt = nhwcIn ? nhwcPositions(inShape) : null;
    const fromStorage = inAt ? source.map((s) => inAt[s]) : source;
    const candidates: { nhwcOut: boolean; order: Int32Array }[] = [{ nhwcOut: false, order: fromStorage }];
    if (outShape.length === 3) {
      const order = new Int32Array(size);
      nhwcPositions(outShape).forEach((p, j) => {
        order[p] = fromStorage[j];
      });
      // Images feed convolutions: NHWC first unless plain storage needs no gather.
      candidates.unshift({ nhwcOut: true, order });
    }
    const identity = candidates.find((c) => c.order.every((s, i) => s === i));
    const chosen = identity ?? candidates[0];
    let gather: Plan['gather'] = null;
    let orders: Plan['orders'] = null;
    if (!identity) {
      const inverse = new Int32Array(size);
      chosen.order.forEach((s, i) => {
        inverse[s] = i;
      });
      const forward = tf.keep(tf.tensor1d(chosen.order, 'int32'));
      const backward = tf.keep(tf.tensor1d(inverse, 'int32'));
      kept.push(forward, backward);
      const gathered = tf.customGrad(((x: tf.Tensor) => ({
        value: tf.gather(x, forward, 1),
        gradFunc: (dy: tf.Tensor) => tf.gather(dy, backward, 1),
      })) as unknown as CustomGradientFunc<tf.Tensor>) as (x: tf.Tensor2D) => tf.Tensor2D;
      // wasm and cpu: one loop each way (js_kernels.ts).
      gather = (x) => (hasJsKernels() ? permuteRowsLoop(x, forward, backward) : gathered(x));
      orders = [forward, backward];
    }
    plan = { nhwcOut: chosen.nhwcOut, gather, orders };
    plans.set(nhwcIn, plan);
    return plan;
  };
  const output = (moved: tf.Tensor, n: number, nhwcOut: boolean): Val =>
    nhwcOut ? nhwc(tf.reshape(moved, [n, outShape[1], outShape[2], outShape[0]])) : plain(tf.reshape(moved, [n, ...outShape]));
  return withVjp(
    (inputs) => {
      const v = input(inputs, 0, ctx);
      const nhwcIn = v.nhwc && inShape.length === 3;
      const { nhwcOut, gather } = planFor(nhwcIn);
      const n = v.t.shape[0];
      const flat = tf.reshape(nhwcIn ? v.t : toOnnxLayout(v), [n, size]) as tf.Tensor2D;
      return [output(gather ? gather(flat) : flat, n, nhwcOut)];
    },
    (inputs) => {
      const v = input(inputs, 0, ctx);
      const nhwcIn = v.nhwc && inShape.length === 3;
      const { nhwcOut, orders } = planFor(nhwcIn);
      if (orders && !hasJsKernels()) return null;
      const { t, back } = nhwcIn ? { t: v.t, back: same } : onnxLayoutVjp(v);
      const n = t.shape[0];
      const flat = tf.reshape(t, [n, size]) as tf.Tensor2D;
      return {
        outputs: [output(orders ? loops.gatherRows(flat, orders[0]) : flat, n, nhwcOut)],
        backward: ([d]) => {
          if (!d) return [undefined];
          const dFlat = tf.reshape(d, [n, size]) as tf.Tensor2D;
          return [back(tf.reshape(orders ? loops.gatherRows(dFlat, orders[1]) : dFlat, t.shape))];
        },
      };
    },
  );
};

/** Internal nodes made by fuse.ts. */
export const FUSED_TABLE: ReadonlyArray<readonly [string, OpTranslator]> = [
  [FUSED_GROUPSORT2, groupSort2],
  [FUSED_L2POOL, l2Pool],
  [FUSED_PERMUTE, permute],
];

/**
 * Residual layers, in plain ONNX ops that @lip/verify's bound recognizes:
 *
 *  - LipResidual: the block's own nodes (each inner layer by its emitter),
 *    then `Add(Mul(x, a), Mul(f(x), b))` with a = alpha (float32) and b the
 *    largest float32 below 1 - a, so that a + b < 1 by a float32 ulp: the
 *    bound's sum rule (a L_x + b L_f, rounded up in float64) stays <= L_x
 *    when f is 1-Lipschitz.
 *  - SLLDense: `Sub(x, Gemm(Mul(Relu(Gemm(x, A, bias)), g), W))`, both Gemms
 *    with transB = 1, A = W^T `[k, n]` and W `[n, k]` two initializers holding
 *    the same values (so the second map is exactly the first's transpose),
 *    g = 2t. One initializer shared by both Gemms (transB 1 and 0) broke
 *    OpenCV DNN 4.6, whose Gemm import transposes a shared constant in place.
 *  - SLLConv2D: `Sub(x, Conv(Mul(Relu(Conv(x, K, bias)), g), K^T))`, K^T the
 *    flipped kernel with its channel axes swapped, both with the 'same' pads.
 *
 * For the SLL layers the certificate of `sllDenseNormSquaredUpperBound` /
 * `sllConvNormSquaredUpperBound` (@lip/core) is checked on the float32
 * weights written: c >= ||diag(g)^(1/2) A||^2 must be <= 2 for the block to
 * be 1-Lipschitz. SLL's T gives c <= 2 in exact arithmetic; when the
 * certified bound (its safety margin included) lands above 2, g is scaled
 * down by 2 / c, a relative change of about 1e-6, as `shrinkToBound` does
 * for dense kernels.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { sllConvNormSquaredUpperBound, sllDenseNormSquaredUpperBound } from '@lip/core';
import type { LipResidual, SLLWeights } from '@lip/train';
import { EmitContext, Emitter, refuse, samePads } from './context';

/** The emitter of a layer class, or undefined (the table's lookup, passed in to avoid an import cycle). */
export type EmitterLookup = (className: string) => Emitter | undefined;

/** Reads and disposes a tensor. */
function take(t: Tensor): Float32Array {
  const data = Float32Array.from(t.dataSync());
  t.dispose();
  return data;
}

/** The largest float32 strictly below 1 - a (0 when a = 1). */
export function complementBelow(a: number): number {
  const d = 1 - a;
  if (!(d > 0)) return 0;
  const f = new Float32Array([d]);
  const bits = new Int32Array(f.buffer);
  if (f[0] >= d) bits[0] -= 1; // round toward zero
  if (f[0] > 0) bits[0] -= 1; // and one more step: a strict margin of a float32 ulp
  return f[0];
}

/** Per-sample tfjs shape of a layer's output (`[F]` or `[H, W, C]`). */
function outShapeOf(ctx: EmitContext, layer: { computeOutputShape(s: (number | null)[]): unknown; name: string }, inShape: number[]): number[] {
  const out = layer.computeOutputShape([null, ...inShape]) as (number | null)[];
  const s = out.slice(1);
  if (!s.every((d): d is number => typeof d === 'number' && d > 0) || (s.length !== 1 && s.length !== 3)) {
    refuse(ctx, `its inner layer '${layer.name}' outputs [${out.join(', ')}]; only [F] and [H, W, C] per sample are supported`);
  }
  return s;
}

/** LipResidual -> the block's nodes, `Mul(x, a)`, `Mul(f(x), b)`, `Add`. */
export function emitLipResidual(ctx: EmitContext, lookup: EmitterLookup): string {
  const residual = ctx.layer as unknown as LipResidual;
  if (!Array.isArray(residual.layers) || typeof residual.alphaValue !== 'function') refuse(ctx, 'it is not a LipResidual');
  const unknown = residual.layers.filter((l) => !lookup(l.getClassName()));
  if (unknown.length > 0) {
    refuse(ctx, `no ONNX emitter for its inner layer${unknown.length > 1 ? 's' : ''} ${unknown.map((l) => `'${l.name}' (${l.getClassName()})`).join(', ')}`);
  }
  let y = ctx.x;
  let shape = [...ctx.inShape];
  for (const layer of residual.layers) {
    const outShape = outShapeOf(ctx, layer, shape);
    y = lookup(layer.getClassName())!({
      b: ctx.b,
      profile: ctx.profile,
      layer,
      config: layer.getConfig(),
      x: y,
      inShape: shape,
      outShape,
      what: `layer '${layer.name}' (${layer.getClassName()}) in ${ctx.what}`,
    });
    shape = outShape;
  }
  if (shape.join() !== ctx.inShape.join()) refuse(ctx, `its block maps [${ctx.inShape.join(', ')}] to [${shape.join(', ')}]`);
  const a = Math.fround(residual.fixedAlpha ?? residual.alphaValue());
  const { b } = ctx;
  const name = ctx.layer.name;
  const ax = b.node('Mul', [ctx.x, b.initializer(b.fresh(`${name}_alpha`), Float32Array.of(a), [])])[0];
  const bf = b.node('Mul', [y, b.initializer(b.fresh(`${name}_one_minus_alpha`), Float32Array.of(complementBelow(a)), [])])[0];
  return b.node('Add', [ax, bf], {}, { name: b.fresh(name) })[0];
}

/** The SLL layer's weights as float32 arrays. */
function sllWeights(ctx: EmitContext): { kernel: Float32Array; shape: number[]; bias: Float32Array | null; g: Float32Array } {
  const layer = ctx.layer as unknown as { exportWeights?: () => SLLWeights };
  if (typeof layer.exportWeights !== 'function') refuse(ctx, 'it is not an SLL layer (exportWeights)');
  const w = layer.exportWeights();
  const shape = w.kernel.shape.slice();
  const kernel = take(w.kernel);
  const bias = w.bias === null ? null : take(w.bias);
  // g = 2t: doubling is exact in float32.
  const g = Float32Array.from(take(w.scales), (t) => 2 * t);
  return { kernel, shape, bias, g };
}

/**
 * g scaled so that the certificate `normSquared(g) <= 2` holds on the
 * float32 values (unchanged when it holds already), retrying a few ulps
 * lower if rounding to float32 lifts it.
 */
function certifiedScales(ctx: EmitContext, g: Float32Array, normSquared: (g: Float32Array) => number): Float32Array {
  let out = g;
  for (let attempt = 0; attempt < 8; attempt++) {
    const c = normSquared(out);
    if (c <= 2) return out;
    if (!Number.isFinite(c)) refuse(ctx, `its scales are not finite and non-negative (certificate ${c})`);
    const factor = (2 / c) * (1 - attempt * 2 ** -23);
    out = Float32Array.from(out, (v) => v * factor);
  }
  return refuse(ctx, 'could not bring its SLL certificate under 2');
}

/** SLLDense -> Gemm, Relu, Mul, Gemm (A's transpose, as its own initializer), Sub. */
export const emitSLLDense: Emitter = (ctx) => {
  if (ctx.inShape.length !== 1) refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample, expected [F]`);
  const { kernel, shape, bias, g: g0 } = sllWeights(ctx);
  const [n, k] = shape;
  if (shape.length !== 2 || n !== ctx.inShape[0]) refuse(ctx, `kernel shape [${shape.join(', ')}] does not match input [${ctx.inShape.join(', ')}]`);
  // A = W^T [k, n]: the first Gemm reads it with transB = 1 (x A^T = x W), the second reads W [n, k] with transB = 1 (u W^T = u A).
  const a = new Float32Array(k * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) a[j * n + i] = kernel[i * k + j];
  const g = certifiedScales(ctx, g0, (s) => sllDenseNormSquaredUpperBound(a, k, n, s));
  const { b } = ctx;
  const name = ctx.layer.name;
  const aName = b.initializer(b.fresh(`${name}_W`), a, [k, n]);
  const inputs = [ctx.x, aName];
  if (bias) inputs.push(b.initializer(b.fresh(`${name}_b`), bias, [k]));
  const h = b.node('Gemm', inputs, { transA: 0, transB: 1 })[0];
  const r = b.node('Relu', [h])[0];
  const u = b.node('Mul', [r, b.initializer(b.fresh(`${name}_g`), g, [k])])[0];
  const z = b.node('Gemm', [u, b.initializer(b.fresh(`${name}_WT`), Float32Array.from(kernel), [n, k])], { transA: 0, transB: 1 })[0];
  return b.node('Sub', [ctx.x, z], {}, { name: b.fresh(name) })[0];
};

/** SLLConv2D -> Conv, Relu, Mul, Conv (adjoint kernel), Sub. */
export const emitSLLConv2D: Emitter = (ctx) => {
  if (ctx.inShape.length !== 3) refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample, expected [H, W, C]`);
  const { kernel, shape, bias, g: g0 } = sllWeights(ctx);
  const [kh, kw, c, k] = shape;
  if (shape.length !== 4 || c !== ctx.inShape[2]) refuse(ctx, `kernel shape [${shape.join(', ')}] does not match input channels ${ctx.inShape[2]}`);
  if (kh % 2 !== 1 || kw % 2 !== 1) refuse(ctx, `kernel ${kh}x${kw} must be odd`);
  // K [k, c, kh, kw] (x: c -> k channels) and its adjoint K^T [c, k, kh, kw], flipped in space.
  const fwd = new Float32Array(kernel.length);
  const adj = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let ci = 0; ci < c; ci++) {
        for (let o = 0; o < k; o++) {
          const v = kernel[((y * kw + x) * c + ci) * k + o];
          fwd[((o * c + ci) * kh + y) * kw + x] = v;
          adj[((ci * k + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)] = v;
        }
      }
    }
  }
  const inHW: [number, number] = [ctx.inShape[0], ctx.inShape[1]];
  const g = certifiedScales(ctx, g0, (s) => sllConvNormSquaredUpperBound(fwd, [k, c, kh, kw], inHW, s));
  const pads = samePads(inHW, [kh, kw], [1, 1]);
  const { b } = ctx;
  const name = ctx.layer.name;
  const conv = { kernel_shape: [kh, kw], strides: [1, 1], dilations: [1, 1], pads, group: 1 };
  const inputs = [ctx.x, b.initializer(b.fresh(`${name}_K`), fwd, [k, c, kh, kw])];
  if (bias) inputs.push(b.initializer(b.fresh(`${name}_b`), bias, [k]));
  const h = b.node('Conv', inputs, conv)[0];
  const r = b.node('Relu', [h])[0];
  const u = b.node('Mul', [r, b.initializer(b.fresh(`${name}_g`), g, [k, 1, 1])])[0];
  const z = b.node('Conv', [u, b.initializer(b.fresh(`${name}_KT`), adj, [c, k, kh, kw])], conv)[0];
  return b.node('Sub', [ctx.x, z], {}, { name: b.fresh(name) })[0];
};

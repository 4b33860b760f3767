import type { Tensor } from '@tensorflow/tfjs-core';
import { convCorrectionFactor, convSpectralNormUpperBound, isLipschitzLinear, LipschitzLinear, matrixSpectralNormUpperBound } from '@lip/train';
import { EmitContext, Emitter, pair, padding, refuse, requireChannelsLast, requireLinearActivation, samePads } from './context';

/** The layer as a LipschitzLinear (dense or conv with `effectiveKernel`). */
function asLinear(ctx: EmitContext): LipschitzLinear {
  if (!isLipschitzLinear(ctx.layer)) refuse(ctx, 'it does not implement LipschitzLinear (effectiveKernel, effectiveBias)');
  return ctx.layer;
}

/** Reads and disposes a tensor. */
function take(t: Tensor): { data: Float32Array; shape: number[] } {
  const data = Float32Array.from(t.dataSync());
  const shape = t.shape.slice();
  t.dispose();
  return { data, shape };
}

/** The effective bias, or null when the layer has none. */
function bias(ctx: EmitContext, lin: LipschitzLinear, units: number): Float32Array | null {
  const t = lin.effectiveBias();
  if (t === null) return null;
  const { data } = take(t);
  if (data.length !== units) refuse(ctx, `bias has ${data.length} values for ${units} units`);
  return data;
}

/**
 * Dense -> `Gemm(x, W^T, b)` with `transB = 1`: `W` is the converged effective
 * kernel `[in, out]` (tfjs layout), stored as `[out, in]`, the form PyTorch and
 * tf2onnx write. OpenCV's DNN importer (4.6) refuses a Gemm with a bias unless
 * `B` is `[out, in]`, and row j of `B` is then logit j's weights. On an
 * [H, W, C] input, tfjs applies the kernel to every pixel: that is a 1x1
 * `Conv` with the same `[out, in]` weights reshaped to `[out, in, 1, 1]`.
 */
export const emitDense: Emitter = (ctx) => {
  requireLinearActivation(ctx);
  if (ctx.inShape.length !== 1 && ctx.inShape.length !== 3)
    refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample; only [F] and [H, W, C] are supported`);
  const features = ctx.inShape[ctx.inShape.length - 1];
  const lin = asLinear(ctx);
  const { data: w, shape } = take(lin.effectiveKernel({ converge: true }));
  if (shape.length !== 2 || shape[0] !== features) refuse(ctx, `kernel shape [${shape.join(', ')}] does not match input [${ctx.inShape.join(', ')}]`);
  const [nin, nout] = shape;
  const { b } = ctx;
  const pixelwise = ctx.inShape.length === 3;
  // A converged Björck kernel is orthonormal: rounded to float32 its certified
  // norm can land a hair above k (about 1e-6), so every Dense is brought under it.
  const kernel = shrinkToBound(w, (v) => matrixSpectralNormUpperBound(v, nin, nout), lin.lipschitzConstant());
  const weights = transpose2d(kernel, nin, nout);
  const inputs = [ctx.x, b.initializer(b.fresh(`${ctx.layer.name}_W`), weights, pixelwise ? [nout, nin, 1, 1] : [nout, nin])];
  const c = bias(ctx, lin, nout);
  if (c) inputs.push(b.initializer(b.fresh(`${ctx.layer.name}_b`), c, [nout]));
  const name = b.fresh(ctx.layer.name);
  if (pixelwise) return b.node('Conv', inputs, { kernel_shape: [1, 1] }, { name })[0];
  return b.node('Gemm', inputs, { transA: 0, transB: 1 }, { name })[0];
};

function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = w[i * cols + j];
  return t;
}

/**
 * Conv2D -> `Conv` with explicit pads (tfjs `'same'` puts the odd pad at the
 * end, which `auto_pad=SAME_UPPER` matches but not every runtime implements).
 * Kernel `[kh, kw, cin, cout]` -> `[cout, cin, kh, kw]`.
 *
 * A conv normalized by its operator norm (`normalization: 'operator'`) is
 * exported as `W k / ub(W)`, with `ub` a guaranteed upper bound of the norm
 * (convSpectralNormUpperBound) instead of the power-iteration estimate, which
 * is a lower bound. The effective kernel is `W k / est`, so rescaling it by
 * `k / ub(effective)` gives exactly `W k / ub(W)`. Spectral layers without
 * Björck get the same treatment with the matrix bound.
 */
export const emitConv2D: Emitter = (ctx) => {
  requireLinearActivation(ctx);
  requireChannelsLast(ctx);
  if (ctx.inShape.length !== 3) refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample, expected [H, W, C]`);
  const lin = asLinear(ctx);
  const { data, shape } = take(lin.effectiveKernel({ converge: true }));
  if (shape.length !== 4 || shape[2] !== ctx.inShape[2]) refuse(ctx, `kernel shape [${shape.join(', ')}] does not match input channels ${ctx.inShape[2]}`);
  const [kh, kw, cin, cout] = shape;
  const strides = pair(ctx, 'strides', [1, 1]);
  const dilations = pair(ctx, 'dilationRate', [1, 1]);
  const pad = padding(ctx);
  const groups = ctx.config.groups ?? 1;
  if (groups !== 1) refuse(ctx, `grouped convolutions (groups=${String(groups)}) are not supported`);
  const inHW: [number, number] = [ctx.inShape[0], ctx.inShape[1]];

  let kernel = data;
  const k = lin.lipschitzConstant();
  if (ctx.config.normalization === 'operator' || ['Lip>OrthogonalConv2D', 'Lip>AOLConv2D'].includes(ctx.layer.getClassName())) {
    // Operator-norm convs are divided by an estimate; orthogonal (BCOP) and AOL ones have
    // norm at most 1 up to float32 rounding: all are brought under a certified bound.
    if (dilations[0] !== 1 || dilations[1] !== 1) refuse(ctx, 'a dilated operator-norm or orthogonal convolution has no guaranteed bound');
    kernel = shrinkToBound(data, (v) => convSpectralNormUpperBound(v, [kh, kw, cin, cout], inHW, strides, pad), k);
  } else if (normalizedByPowerIteration(ctx)) {
    // Spectral normalization of the [kh*kw*cin, cout] matrix, then the correction factor.
    const target = k * convCorrectionFactor([kh, kw], strides);
    kernel = shrinkToBound(data, (v) => matrixSpectralNormUpperBound(v, kh * kw * cin, cout), target);
  }

  const w = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let co = 0; co < cout; co++) {
          w[((co * cin + ci) * kh + y) * kw + x] = kernel[((y * kw + x) * cin + ci) * cout + co];
        }
      }
    }
  }
  const { b } = ctx;
  const inputs = [ctx.x, b.initializer(b.fresh(`${ctx.layer.name}_W`), w, [cout, cin, kh, kw])];
  const c = bias(ctx, lin, cout);
  if (c) inputs.push(b.initializer(b.fresh(`${ctx.layer.name}_b`), c, [cout]));
  const pads = pad === 'same' ? samePads(inHW, [kh, kw], strides, dilations) : [0, 0, 0, 0];
  return b.node(
    'Conv',
    inputs,
    {
      kernel_shape: [kh, kw],
      strides,
      dilations,
      pads,
      group: 1,
    },
    { name: b.fresh(ctx.layer.name) },
  )[0];
};

/**
 * True for a Spectral layer without Björck (`niterBjorck: 0`): its kernel is
 * divided by a power-iteration estimate of its norm, a lower bound. (Björck
 * run to convergence gives an orthonormal matrix instead, and Frobenius
 * norms are upper bounds already.)
 */
function normalizedByPowerIteration(ctx: EmitContext): boolean {
  return ctx.layer.getClassName().startsWith('Lip>Spectral') && ctx.config.niterBjorck === 0;
}

/**
 * The kernel scaled so that its guaranteed norm bound `ub` is at most
 * `target`: `kernel * target / ub(kernel)` when `ub(kernel) > target`, else
 * unchanged. The scaled kernel is rounded to float32 and checked again (an ulp
 * of rounding can lift the bound), shrinking by a few ulps until it holds.
 */
export function shrinkToBound(kernel: Float32Array, ub: (k: Float32Array) => number, target: number): Float32Array {
  let out = kernel;
  for (let attempt = 0; attempt < 8; attempt++) {
    const bound = ub(out);
    if (!(bound > target)) return out;
    const factor = (target / bound) * (1 - attempt * 2 ** -23);
    out = Float32Array.from(out, (v) => v * factor);
  }
  throw new Error(`unreachable: could not bring a kernel norm bound below ${target}`);
}

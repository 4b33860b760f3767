import { EmitContext, Emitter, pair, refuse, requireChannelsLast, scale } from './context';

/*
 * Scaled poolings (deel-lip / deel-torchlip): over a window of K = ph*pw values
 *   ScaledAvgPool    = sqrt(K) * mean(x)
 *   ScaledL2NormPool = sqrt(K * mean(x^2))       (= ||x||_2 over the window)
 * on non-overlapping 'valid' windows (the layers refuse anything else, which
 * would not be 1-Lipschitz), so no window is cut by padding.
 */

interface PoolGeometry {
  kernel: [number, number];
  strides: [number, number];
}

function geometry(ctx: EmitContext): PoolGeometry {
  requireChannelsLast(ctx);
  if (ctx.inShape.length !== 3) refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample, expected [H, W, C]`);
  const p = ctx.config.padding ?? 'valid';
  if (p !== 'valid') refuse(ctx, `padding '${String(p)}' is not supported: a window cut by padding is not 1-Lipschitz once scaled`);
  const kernel = pair(ctx, 'poolSize', [2, 2]);
  const strides = ctx.config.strides == null ? kernel : pair(ctx, 'strides');
  return { kernel, strides };
}

function poolAttrs(g: PoolGeometry): Record<string, number[]> {
  return { kernel_shape: g.kernel, strides: g.strides, pads: [0, 0, 0, 0] };
}

/** ScaledAvgPool2D: AveragePool times sqrt(K) (both profiles). */
export const emitScaledAvgPool2D: Emitter = (ctx) => {
  const g = geometry(ctx);
  const [avg] = ctx.b.node('AveragePool', [ctx.x], poolAttrs(g));
  return scale(ctx.b, avg, Math.sqrt(g.kernel[0] * g.kernel[1]));
};

/**
 * ScaledL2NormPool2D: `Sqrt(AveragePool(x * x) * K)`, the tfjs formula, in both
 * profiles. `LpPool(p=2)` says the same in one node, but onnxruntime's CPU
 * LpPool kernel is about 20 times slower (2x2 on [1000, 16, 28, 28]: 347 vs
 * 17 ms) and took most of the reference network's inference time. Over a
 * 2x2 window the division and the multiplication by K = 4 are exact, so the
 * two forms differ only in the order of the float32 sum (at most 1 ulp);
 * `lipschitzBound` reads `sqrt(c * mean(x^2))` as an L2 pool.
 */
export const emitScaledL2NormPool2D: Emitter = (ctx) => {
  const g = geometry(ctx);
  const { b } = ctx;
  const [sq] = b.node('Mul', [ctx.x, ctx.x]);
  const [avg] = b.node('AveragePool', [sq], poolAttrs(g));
  return b.node('Sqrt', [scale(b, avg, g.kernel[0] * g.kernel[1])])[0];
};

/**
 * ScaledGlobalL2NormPool2D: ||x||_2 over all spatial positions, per channel,
 * output [N, C]: `Sqrt(GlobalAveragePool(x * x) * H W)` in both profiles (as
 * the windowed pool, rather than onnxruntime's slow GlobalLpPool).
 */
export const emitScaledGlobalL2NormPool2D: Emitter = (ctx) => {
  requireChannelsLast(ctx);
  if (ctx.inShape.length !== 3) refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample, expected [H, W, C]`);
  const { b } = ctx;
  const [sq] = b.node('Mul', [ctx.x, ctx.x]);
  const [avg] = b.node('GlobalAveragePool', [sq]);
  const pooled = b.node('Sqrt', [scale(b, avg, ctx.inShape[0] * ctx.inShape[1])])[0];
  return b.node('Flatten', [pooled], { axis: 1 })[0];
};

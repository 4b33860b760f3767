import { Emitter, onnxDims, pair, refuse, requireChannelsLast, reshape } from './context';

/**
 * Flatten. tfjs flattens NHWC, so features are ordered (h, w, c); the graph
 * holds NCHW. We emit `Transpose(0, 2, 3, 1)` then `Flatten`, which gives the
 * tfjs order exactly and keeps the next Gemm's weights as trained. (Permuting
 * that Gemm's rows instead would save one Transpose but tie two emitters
 * together, and the Transpose is a permutation, so any bound reader sees a
 * 1-Lipschitz op.)
 */
export const emitFlatten: Emitter = (ctx) => {
  const { b } = ctx;
  if (ctx.inShape.length === 1) return ctx.x;
  let x = ctx.x;
  if (ctx.inShape.length === 3) {
    requireChannelsLast(ctx);
    [x] = b.node('Transpose', [x], { perm: [0, 2, 3, 1] });
  } else {
    refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample; only [F] and [H, W, C] are supported`);
  }
  return b.node('Flatten', [x], { axis: 1 })[0];
};

/**
 * InvertibleDownSampling (deel-lip): the output stacks the ph*pw sub-grids
 * `x[:, i::ph, j::pw, :]` along channels in (i, j) order, so output channel
 * `(i pw + j) C + c`. In NCHW: [N, C, H/ph, ph, W/pw, pw] -> transpose to
 * [N, ph, pw, C, H/ph, W/pw] -> [N, ph pw C, H/ph, W/pw] (the same order as
 * ONNX SpaceToDepth, but spelled with ops every runtime has for any ph, pw).
 */
export const emitInvertibleDownSampling: Emitter = (ctx) => {
  requireChannelsLast(ctx);
  if (ctx.inShape.length !== 3) refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample, expected [H, W, C]`);
  const [ph, pw] = pair(ctx, 'poolSize', [2, 2]);
  const [c, h, w] = onnxDims(ctx.inShape);
  if (h % ph !== 0 || w % pw !== 0) refuse(ctx, `input ${h}x${w} is not divisible by the pool size ${ph}x${pw}`);
  const { b } = ctx;
  const split = reshape(b, ctx.x, [c, h / ph, ph, w / pw, pw]);
  const [moved] = b.node('Transpose', [split], { perm: [0, 3, 5, 1, 2, 4] });
  return reshape(b, moved, onnxDims(ctx.outShape));
};

/** Layers that do nothing at inference (the input placeholder). */
export const emitIdentity: Emitter = (ctx) => ctx.x;

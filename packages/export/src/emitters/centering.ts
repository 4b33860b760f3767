import { BatchCentering, LayerCentering } from '@lip/train';
import { EmitContext, Emitter, onnxDims, refuse, reshape } from './context';

/*
 * The centering layers (deel-torchlip BatchCentering / LayerCentering), NCHW:
 *   BatchCentering at inference   Add(x, bias - running_mean)   (a translation)
 *   LayerCentering                y - GlobalAveragePool(y) on y = x viewed as
 *                                 [N, kept, averaged, 1] (Transpose + Reshape; x
 *                                 itself for the spatial mean of an image), then
 *                                 back, then Add(bias)
 * `lip bound` bounds Sub(y, GlobalAveragePool(y)) by the bound of y: it is the
 * projection I - 11^T/n on each row of n averaged values, of norm 1.
 */

/** `[C, 1, 1]` for an image, `[F]` for features: a per-channel constant broadcast over the graph value. */
function channelDims(ctx: EmitContext): number[] {
  if (ctx.inShape.length !== 1 && ctx.inShape.length !== 3) {
    refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample; only [F] and [H, W, C] are supported`);
  }
  const c = ctx.inShape[ctx.inShape.length - 1];
  return ctx.inShape.length === 3 ? [c, 1, 1] : [c];
}

function addChannelConstant(ctx: EmitContext, x: string, values: Float32Array, label: string): string {
  const { b } = ctx;
  const c = b.initializer(b.fresh(`${ctx.layer.name}_${label}`), values, channelDims(ctx));
  return b.node('Add', [x, c])[0];
}

/** BatchCentering at inference: `x + (bias - running mean)`. */
export const emitBatchCentering: Emitter = (ctx) => {
  if (!(ctx.layer instanceof BatchCentering)) refuse(ctx, 'it is not a Lip>BatchCentering layer');
  const shift = ctx.layer.inferenceShift();
  const values = Float32Array.from(shift.dataSync());
  shift.dispose();
  return addChannelConstant(ctx, ctx.x, values, 'shift');
};

/** LayerCentering: `x - mean over the layer's axes (+ bias)`, the mean by GlobalAveragePool. */
export const emitLayerCentering: Emitter = (ctx) => {
  if (!(ctx.layer instanceof LayerCentering)) refuse(ctx, 'it is not a Lip>LayerCentering layer');
  const layer = ctx.layer;
  channelDims(ctx);
  const { b } = ctx;
  const rank = ctx.inShape.length + 1;
  // tfjs axis a of [N, H, W, C] is ONNX axis [0, 2, 3, 1][a] of [N, C, H, W].
  const toOnnx = rank === 4 ? [0, 2, 3, 1] : [0, 1];
  const averaged = layer.axes.map((a) => toOnnx[a]).sort((p, q) => p - q);
  if (averaged.length === 0 || averaged.some((a) => !(a >= 1 && a < rank))) refuse(ctx, `axes [${layer.axes.join(', ')}] do not fit its input`);
  const dims = [0, ...onnxDims(ctx.inShape)]; // dims[a] for ONNX axis a >= 1
  const kept = Array.from({ length: rank - 1 }, (_, i) => i + 1).filter((a) => !averaged.includes(a));
  const perm = [0, ...kept, ...averaged];
  const moves = perm.some((a, i) => a !== i);
  const moved = moves ? b.node('Transpose', [ctx.x], { perm })[0] : ctx.x;
  const rows = kept.reduce((p, a) => p * dims[a], 1);
  const n = averaged.reduce((p, a) => p * dims[a], 1);
  // The spatial mean of [N, C, H, W] is GlobalAveragePool itself; otherwise a 4-D view [N, rows, n, 1] (every reader takes 4-D).
  const spatial = !moves && rank === 4 && kept.length === 1;
  const y = spatial ? moved : reshape(b, moved, [rows, n, 1]);
  const [mean] = b.node('GlobalAveragePool', [y]);
  const [centered] = b.node('Sub', [y, mean]);
  let out = spatial
    ? centered
    : reshape(
        b,
        centered,
        perm.slice(1).map((a) => dims[a]),
      );
  if (moves) {
    const inverse = perm.map((_, i) => perm.indexOf(i));
    [out] = b.node('Transpose', [out], { perm: inverse });
  }
  const bias = layer.weights.find((w) => /(^|\/)bias$/.test(w.originalName));
  if (bias === undefined) return out;
  return addChannelConstant(ctx, out, Float32Array.from(bias.read().dataSync()), 'bias');
};

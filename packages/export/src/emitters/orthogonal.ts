import { convSpectralNormUpperBound, isLipschitzLinear, LipschitzLinear } from '@lip/train';
import { EmitContext, Emitter, onnxDims, pair, padding, refuse, requireChannelsLast, requireLinearActivation, reshape } from './context';
import { emitConv2D, shrinkToBound } from './linear';

/**
 * Strided and transposed orthogonal convolutions (OrthogonalConv2D with
 * stride, OrthogonalConv2DTranspose). The layer's composed kernel
 * `K'[a s + dy, b s + dx, c, o] = K[a, b, (dy sw + dx) cin + c, o]` is folded
 * back into the stride-1 BCOP kernel `K` and exported as what it is:
 *  - strided: space-to-depth (Reshape-Transpose-Reshape, the channel order of
 *    InvertibleDownSampling) then a stride-1 `Conv` with `K`;
 *  - transposed: a stride-1 `Conv` with the adjoint of `K` (spatially flipped,
 *    channels swapped, pads `k - 1 - p`) then depth-to-space.
 * Every node is a plain standard op whose bound is tight in `lip bound`
 * (space-to-depth is a permutation; a stride-1 orthogonal conv's circular
 * bound is ~1, where a strided conv's circular bound would be ~s).
 */

interface Folded {
  /** `[kh, kw, sh sw cin, cout]` of the stride-1 BCOP convolution (hwio). */
  kernel: Float32Array;
  shape: [number, number, number, number];
}

function asLinear(ctx: EmitContext): LipschitzLinear {
  if (!isLipschitzLinear(ctx.layer)) refuse(ctx, 'it does not implement LipschitzLinear (effectiveKernel, effectiveBias)');
  return ctx.layer;
}

/** The converged composed kernel `[kh sh, kw sw, cin, cout]` folded to `[kh, kw, sh sw cin, cout]`. */
function foldedKernel(ctx: EmitContext, lin: LipschitzLinear, strides: [number, number]): Folded {
  const t = lin.effectiveKernel({ converge: true });
  const data = t.dataSync();
  const [kth, ktw, cin, cout] = t.shape;
  t.dispose();
  const [sh, sw] = strides;
  if (kth % sh !== 0 || ktw % sw !== 0) refuse(ctx, `kernel ${kth}x${ktw} is not a multiple of the stride ${sh}x${sw}`);
  const [kh, kw] = [kth / sh, ktw / sw];
  const depth = sh * sw * cin;
  const kernel = new Float32Array(data.length);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let dy = 0; dy < sh; dy++)
        for (let dx = 0; dx < sw; dx++)
          for (let c = 0; c < cin; c++)
            for (let o = 0; o < cout; o++) {
              const from = (((a * sh + dy) * ktw + (b * sw + dx)) * cin + c) * cout + o;
              kernel[((a * kw + b) * depth + (dy * sw + dx) * cin + c) * cout + o] = data[from];
            }
  return { kernel, shape: [kh, kw, depth, cout] };
}

/** A stride-1 `Conv` node: hwio kernel `[kh, kw, cin, cout]` -> ONNX `[cout, cin, kh, kw]`. */
function convNode(ctx: EmitContext, x: string, kernel: Float32Array, shape: number[], pads: number[], bias: Float32Array | null): string {
  const [kh, kw, cin, cout] = shape;
  const w = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++)
    for (let xx = 0; xx < kw; xx++)
      for (let ci = 0; ci < cin; ci++)
        for (let co = 0; co < cout; co++) w[((co * cin + ci) * kh + y) * kw + xx] = kernel[((y * kw + xx) * cin + ci) * cout + co];
  const { b } = ctx;
  const inputs = [x, b.initializer(b.fresh(`${ctx.layer.name}_W`), w, [cout, cin, kh, kw])];
  if (bias) inputs.push(b.initializer(b.fresh(`${ctx.layer.name}_b`), bias, [cout]));
  return b.node('Conv', inputs, { kernel_shape: [kh, kw], strides: [1, 1], dilations: [1, 1], pads, group: 1 }, { name: b.fresh(ctx.layer.name) })[0];
}

function effectiveBias(ctx: EmitContext, lin: LipschitzLinear, units: number): Float32Array | null {
  const t = lin.effectiveBias();
  if (t === null) return null;
  const data = Float32Array.from(t.dataSync());
  t.dispose();
  if (data.length !== units) refuse(ctx, `bias has ${data.length} values for ${units} units`);
  return data;
}

function checkContext(ctx: EmitContext): void {
  requireLinearActivation(ctx);
  requireChannelsLast(ctx);
  if (ctx.inShape.length !== 3) refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample, expected [H, W, C]`);
  const dilations = pair(ctx, 'dilationRate', [1, 1]);
  if (dilations[0] !== 1 || dilations[1] !== 1) refuse(ctx, 'a dilated orthogonal convolution is not supported');
}

/** OrthogonalConv2D: stride 1 -> one Conv (emitConv2D); stride s -> space-to-depth, Conv. */
export const emitOrthogonalConv2D: Emitter = (ctx) => {
  const strides = pair(ctx, 'strides', [1, 1]);
  if (strides[0] === 1 && strides[1] === 1) return emitConv2D(ctx);
  checkContext(ctx);
  const lin = asLinear(ctx);
  const [sh, sw] = strides;
  const [c, h, w] = onnxDims(ctx.inShape);
  if (h % sh !== 0 || w % sw !== 0) refuse(ctx, `input ${h}x${w} is not divisible by the stride ${sh}x${sw}`);
  const pad = padding(ctx);
  const folded = foldedKernel(ctx, lin, strides);
  const [kh, kw, depth, cout] = folded.shape;
  if (depth !== sh * sw * c) refuse(ctx, `kernel input channels ${depth / (sh * sw)} do not match the input's ${c}`);
  const coarse: [number, number] = [h / sh, w / sw];
  // converged BCOP is orthogonal up to float32 rounding: brought under its certified bound
  const kernel = shrinkToBound(folded.kernel, (v) => convSpectralNormUpperBound(v, folded.shape, coarse, [1, 1], pad), lin.lipschitzConstant());
  const { b } = ctx;
  // space-to-depth: [N, C, H/sh, sh, W/sw, sw] -> [N, sh, sw, C, H/sh, W/sw] -> [N, sh sw C, H/sh, W/sw]
  const split = reshape(b, ctx.x, [c, h / sh, sh, w / sw, sw]);
  const [moved] = b.node('Transpose', [split], { perm: [0, 3, 5, 1, 2, 4] });
  const s2d = reshape(b, moved, [depth, ...coarse]);
  const pads = pad === 'same' ? [(kh - 1) / 2, (kw - 1) / 2, (kh - 1) / 2, (kw - 1) / 2] : [0, 0, 0, 0];
  return convNode(ctx, s2d, kernel, folded.shape, pads, effectiveBias(ctx, lin, cout));
};

/**
 * OrthogonalConv2DTranspose: the adjoint of the stride-1 conv `K` on the
 * coarse grid (kernel `Kadj[a, b, o, i] = K[kh-1-a, kw-1-b, i, o]`, pads
 * `k - 1 - p`), then depth-to-space back to the fine grid.
 */
export const emitOrthogonalConv2DTranspose: Emitter = (ctx) => {
  checkContext(ctx);
  const lin = asLinear(ctx);
  const strides = pair(ctx, 'strides', [1, 1]);
  const [sh, sw] = strides;
  const pad = padding(ctx);
  const [cin, h, w] = onnxDims(ctx.inShape);
  const folded = foldedKernel(ctx, lin, strides);
  // folded: the forward conv [kh, kw, sh sw F, cin] from the (coarse) output back to this layer's input
  const [kh, kw, depth, cfwd] = folded.shape;
  if (cfwd !== cin) refuse(ctx, `kernel output channels ${cfwd} do not match the input's ${cin}`);
  const filters = depth / (sh * sw);
  const fwdIn: [number, number] = pad === 'same' ? [h, w] : [h + kh - 1, w + kw - 1];
  // ||A^T|| = ||A||: certify the forward conv on its own input size
  const kernel = shrinkToBound(folded.kernel, (v) => convSpectralNormUpperBound(v, folded.shape, fwdIn, [1, 1], pad), lin.lipschitzConstant());
  const adjoint = new Float32Array(kernel.length);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let i = 0; i < depth; i++)
        for (let o = 0; o < cin; o++) adjoint[((a * kw + b) * cin + o) * depth + i] = kernel[(((kh - 1 - a) * kw + (kw - 1 - b)) * depth + i) * cin + o];
  const [pt, pl] = pad === 'same' ? [(kh - 1) / 2, (kw - 1) / 2] : [0, 0];
  const pads = [kh - 1 - pt, kw - 1 - pl, kh - 1 - pt, kw - 1 - pl];
  // the bias is per output channel of the fine grid: added after depth-to-space
  const coarse = convNode(ctx, ctx.x, adjoint, [kh, kw, cin, depth], pads, null);
  const [ho, wo] = [fwdIn[0], fwdIn[1]];
  const { b } = ctx;
  // depth-to-space: [N, sh, sw, F, h, w] -> [N, F, h, sh, w, sw] -> [N, F, h sh, w sw]
  const split = reshape(b, coarse, [sh, sw, filters, ho, wo]);
  const [moved] = b.node('Transpose', [split], { perm: [0, 3, 4, 1, 5, 2] });
  const fine = reshape(b, moved, [filters, ho * sh, wo * sw]);
  const bias = effectiveBias(ctx, lin, filters);
  if (!bias) return fine;
  return b.node('Add', [fine, b.initializer(b.fresh(`${ctx.layer.name}_b`), bias, [filters, 1, 1])])[0];
};

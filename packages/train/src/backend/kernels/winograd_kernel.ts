/**
 * 3 x 3 stride-1 convolutions by Winograd's F(2 x 2, 3 x 3) (kernels/winograd.c),
 * for the `simd` kernel choice on tfjs-backend-wasm: the forward convolution
 * of LipConv2DBias and the input gradient of a convolution (a convolution of
 * dy with the rotated filter), whenever `winogradApplies`. 2.25x fewer
 * products than a direct convolution; values within a few roundings of it
 * (not XNNPACK's bits: runs with the simd kernels from this kernel on differ
 * from earlier ones by float rounding; the composed kernels are unchanged).
 */
import type { backend_util, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { withF32 } from './simd_kernels';

/**
 * Smallest output height and width for which the Winograd kernel is used
 * (a 1-pixel output would compute a 2 x 2 tile: 16 products for 9). Medians,
 * one thread, batch 256, with a new filter each call (as in training),
 * Winograd against XNNPACK's convolution: 14 x 14 x 16 -> 32 (seed conv 2)
 * 15.6 / 23.7 ms, 7 x 7 x 32 -> 64 (sll) 13.6 / 22.4, 8 x 8 x 48 -> 96
 * 19.5 / 45.7, 4 x 4 x 64 -> 64 7.1 / 14.0, 3 x 3 x 64 -> 64 4.8 / 8.1.
 */
export const WINOGRAD_MIN_OUTPUT = 2;

/** Whether `conv3x3Winograd` takes this convolution: 3 x 3, stride 1, channel counts multiples of 4, outputs of at least `WINOGRAD_MIN_OUTPUT`. */
export function winogradApplies(kh: number, kw: number, sh: number, sw: number, cin: number, cout: number, oh: number, ow: number): boolean {
  return kh === 3 && kw === 3 && sh === 1 && sw === 1 && cin % 4 === 0 && cout % 4 === 0 && cin > 0 && cout > 0 && Math.min(oh, ow) >= WINOGRAD_MIN_OUTPUT;
}

/** Whether the convolution `info` describes (NHWC) is one `winogradApplies` to: also dilation 1 and no negative padding. */
export function winogradAppliesTo(info: backend_util.Conv2DInfo): boolean {
  return (
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    info.padInfo.top >= 0 &&
    info.padInfo.left >= 0 &&
    winogradApplies(info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.inChannels, info.outChannels, info.outHeight, info.outWidth)
  );
}

/** Output tiles per block in kernels/winograd.c (its TILES). */
const WINOGRAD_TILES = 64;

/** Scratch floats of both kernels: the transformed filter (or its gradient), and one block of transformed inputs and outputs. */
function scratchFloats(cin: number, cout: number): number {
  return 16 * cin * cout + 16 * WINOGRAD_TILES * (cin + cout);
}

/**
 * `y [n, oh, ow, cout]` with `y[n, oy, ox] = bias + sum_{i, j} x[n, oy + i - padTop, ox + j - padLeft] filter[i, j]`
 * (x = 0 outside): x `[n, h, w, cin]` NHWC, filter `[3, 3, cin, cout]`, float32.
 */
export function conv3x3Winograd(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | null,
  padTop: number,
  padLeft: number,
  oh: number,
  ow: number,
): TensorInfo {
  const [n, h, w, cin] = x.shape;
  const cout = filter.shape[3];
  const scratch = scratchFloats(cin, cout);
  const inputs = bias === null ? [x, filter] : [x, filter, bias];
  const [y] = withF32(backend, { inputs, outputs: [[n, oh, ow, cout]], scratch }, (k, p) =>
    k.conv3x3_winograd(
      p.inputs[0],
      p.inputs[1],
      bias === null ? 0 : p.inputs[2],
      bias === null ? 0 : 1,
      p.outputs[0],
      p.scratch,
      n,
      h,
      w,
      cin,
      cout,
      padTop,
      padLeft,
      oh,
      ow,
    ),
  );
  return y;
}

/**
 * The filter gradient `dw [3, 3, cin, cout]` of `conv3x3Winograd`'s convolution of `x` (no bias) for the output
 * gradient `dy [n, oh, ow, cout]`, by the same transforms (kernels/winograd.c).
 */
export function conv3x3WinogradFilterGrad(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, padTop: number, padLeft: number): TensorInfo {
  const [n, h, w, cin] = x.shape;
  const [, oh, ow, cout] = dy.shape;
  const scratch = scratchFloats(cin, cout);
  const [dw] = withF32(backend, { inputs: [x, dy], outputs: [[3, 3, cin, cout]], scratch }, (k, p) =>
    k.conv3x3_winograd_filter_grad(p.inputs[0], p.inputs[1], p.outputs[0], p.scratch, n, h, w, cin, cout, padTop, padLeft, oh, ow),
  );
  return dw;
}

/**
 * Convolution gradients for tfjs-backend-wasm: the filter gradient by lip's
 * SIMD kernel (kernels/conv_filter_grad.c), else composed, like the input
 * gradient, of kernels that wasm runs fast (XNNPACK `Conv2D`, `Transpose`,
 * `BatchMatMul`, `PadV2`).
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` (so any conv training
 * throws on wasm), and its `Conv2DBackpropInput` is a plain loop: 355 ms
 * against 37 ms for the equivalent `conv2d` on conv2 of the reference network
 * (/work/shared/PERF-NOTES.md).
 *
 * Notation: x `[B, H, W, Ci]`, filter `[kh, kw, Ci, Co]`, dy `[B, OH, OW, Co]`,
 * strides (sh, sw), padding (pt, pb, pl, pr), dilation 1 (tfjs has no
 * gradient for dilated convolutions).
 *
 *     dW[i, j, c, o] = sum_{b, p, q} xpad[b, p sh + i, q sw + j, c] dy[b, p, q, o]
 *     dx[b, y, x, c] = sum_{i, j, o}  dy[b, p, q, o] W[i, j, c, o],  y = p sh + i - pt, x = q sw + j - pl
 */
import { backend_util, Conv2DBackpropFilterAttrs, Conv2DBackpropInputAttrs, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { LipError } from '../errors';
import { type KernelChoice, kernelChoice } from './kernels/kernel_choice';
import { withF32 } from './kernels/simd_kernels';
import { conv3x3Winograd, conv3x3WinogradFilterGrad, winogradApplies, winogradAppliesTo } from './kernels/winograd_kernel';
import { disposeAll, explicitPads, makeFloat32, readFloat32, runWasmKernel, view } from './wasm_kernel_utils';

type Conv2DInfo = backend_util.Conv2DInfo;

/** How the filter gradient is computed: lip's SIMD kernel, or composed of XNNPACK kernels. */
export type FilterGradMethod = 'simd' | 'patches' | 'dilated';
/** How the input gradient is computed ('stock' is tfjs-backend-wasm's own loop). */
export type InputGradMethod = 'rotated' | 'dilated' | 'stock';

/**
 * Largest patch size `kh * kw * Ci` for which the filter gradient uses
 * im2col patches + matMul rather than the dilated convolution.
 *
 * Patch extraction is a conv with a K x K identity kernel, so its cost grows
 * with K^2; the dilated convolution's grows with K. Medians on wasm, 1
 * thread, batch 512, 3x3 'same', Node 20, 2 shared cores:
 *   conv1 28x28x1->16  (K = 9):   patches 25 ms,  dilated 78 ms   -> patches (3.1x)
 *   conv2 14x14x16->32 (K = 144): patches 368 ms, dilated 109 ms  -> dilated (3.4x)
 * and, as patches/dilated time ratios on a busier machine:
 *   28x28, Co 16, K = 9 / 18 / 27 / 36 / 72: 0.27 / 0.76 / 0.87 / 2.25 / 3.09
 *   14x14, Co 32, K = 9 / 18 / 36 / 72 / 144: 0.28 / 0.47 / 0.93 / 1.70 / 4.00
 * so patches win up to K = 27 (3 input channels at 3x3). Other patch
 * extractions were slower still (conv1 / conv2): 9 slices + concat +
 * matMul 567 / 908 ms, per-offset slice + matMul 356 / 761 ms (wasm's Slice
 * copies its whole input to JS), and matMul with transposeA instead of an
 * explicit transpose 84 / 882 ms.
 */
export const PATCHES_MAX_PATCH_SIZE = 27;

/**
 * The SIMD filter gradient sums the positions of each group of whole images
 * (the fewest with at least this many output positions), then adds the
 * group sums in batch order: a rounding error near (positions per group +
 * groups) eps rather than B OH OW eps, and an order set by the shapes alone.
 */
export const SIMD_FILTER_GRAD_GROUP_POSITIONS = 512;

/**
 * Bytes of zero-padded input the SIMD filter gradient writes per chunk of
 * images, which bounds its scratch. Speed does not depend on it: 64 KiB to
 * 4 MiB gave the same CPU-time medians (batch 512: conv2 30-33 ms, CIFAR
 * conv1 15-18 ms, 8x8x64 -> 64 85-94 ms).
 */
export const SIMD_FILTER_GRAD_CHUNK_BYTES = 1 << 18;

/**
 * Fewest input channels for which a strided input gradient uses "dilate dy,
 * then conv2d" rather than the stock loop (stride 1 always uses the plain
 * rotated-kernel conv2d: conv1 76 -> 53 ms, conv2 660 -> 50 ms). Medians on
 * wasm, 1 thread, batch 512, 3x3, stride 2, 'same', 28x28xCi -> 16, stock vs
 * dilated: Ci = 1: 30 vs 71 ms; 2: 56 vs 55; 4: 81 vs 55; 8: 159 vs 52;
 * 28x28x16 -> 32: 529 vs 212; 14x14x16 -> 32: 126 vs 46 ms. The stock loop
 * grows with Ci, the dilated conv2d barely does.
 */
export const DILATED_INPUT_GRAD_MIN_IN_CHANNELS = 3;

export interface Pads {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** Padding of the stride-1 convolution that computes dx from (dilated) dy, or null when it would be negative. */
export function transposedConvPads(info: Conv2DInfo): Pads | null {
  const { filterHeight: kh, filterWidth: kw, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { top: pt, left: pl } = info.padInfo;
  // dy dilated to [OH sh, OW sw] (s - 1 zeros after every row, including the
  // last), then a full correlation: top + OH sh + bottom = H + kh - 1.
  const pads = {
    top: kh - 1 - pt,
    bottom: inHeight + pt - outHeight * strideHeight,
    left: kw - 1 - pl,
    right: inWidth + pl - outWidth * strideWidth,
  };
  return pads.top >= 0 && pads.bottom >= 0 && pads.left >= 0 && pads.right >= 0 ? pads : null;
}

export function chooseFilterGradMethod(info: Conv2DInfo, kernels: KernelChoice = kernelChoice()): FilterGradMethod {
  if (kernels === 'simd') return 'simd';
  return info.filterHeight * info.filterWidth * info.inChannels <= PATCHES_MAX_PATCH_SIZE ? 'patches' : 'dilated';
}

export function chooseInputGradMethod(info: Conv2DInfo): InputGradMethod {
  if (info.dataFormat !== 'channelsLast' || transposedConvPads(info) == null) return 'stock';
  if (info.strideHeight === 1 && info.strideWidth === 1) return 'rotated';
  return info.inChannels >= DILATED_INPUT_GRAD_MIN_IN_CHANNELS ? 'dilated' : 'stock';
}

function conv2d(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, attrs: NamedAttrMap): TensorInfo {
  return runWasmKernel(backend, 'Conv2D', { x, filter }, { dataFormat: 'NHWC', dilations: 1, ...attrs });
}

function transpose(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel(backend, 'Transpose', { x }, { perm });
}

/**
 * im2col: patches P `[B OH OW, K]` (K = kh kw Ci) by a conv with the K x K
 * identity as its `[kh, kw, Ci, K]` kernel, then dW = P^T dy. P is transposed
 * explicitly: `BatchMatMul` with `transposeA` was 3x slower.
 */
function filterGradPatches(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, attrs: Conv2DBackpropFilterAttrs): TensorInfo {
  const [kh, kw, ci, co] = attrs.filterShape;
  const k = kh * kw * ci;
  const [b, oh, ow] = dy.shape;
  const n = b * oh * ow;
  const eyeValues = new Float32Array(k * k);
  for (let i = 0; i < k; i++) eyeValues[i * k + i] = 1;
  const eye = makeFloat32(backend, [kh, kw, ci, k], eyeValues);
  const patches = conv2d(backend, x, eye, {
    strides: attrs.strides,
    pad: attrs.pad,
    dimRoundingMode: attrs.dimRoundingMode,
  } as unknown as NamedAttrMap);
  const patchesT = transpose(backend, view(patches, [n, k]), [1, 0]);
  const product = runWasmKernel(
    backend,
    'BatchMatMul',
    { a: patchesT, b: view(dy, [n, co]) },
    {
      transposeA: false,
      transposeB: false,
    },
  );
  disposeAll(backend, [eye, patches, patchesT]);
  return view(product, [kh, kw, ci, co]);
}

/**
 * Batch as channels: xT `[Ci, H, W, B]` convolved with dyT `[OH, OW, B, Co]`
 * as the kernel, dilation = stride, gives `[Ci, >= kh, >= kw, Co]`:
 *     r[c, i, j, o] = sum_{p, q, b} xpad[c, i + p sh, j + q sw, b] dyT[p, q, b, o] = dW[i, j, c, o].
 * The first kh x kw positions, transposed to `[kh, kw, Ci, Co]`, are dW.
 */
function filterGradDilated(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: Conv2DInfo, attrs: Conv2DBackpropFilterAttrs): TensorInfo {
  const [kh, kw, ci, co] = attrs.filterShape;
  const { strideHeight: sh, strideWidth: sw, inHeight, inWidth, outHeight, outWidth } = info;
  const { top, bottom, left, right } = info.padInfo;
  // Extra zeros at the far edges, if a rounding mode let the last window run
  // past the padded input: the forward pass read zeros there as well.
  const padBottom = Math.max(bottom, kh + sh * (outHeight - 1) - inHeight - top);
  const padRight = Math.max(right, kw + sw * (outWidth - 1) - inWidth - left);
  const xT = transpose(backend, x, [3, 1, 2, 0]);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]);
  const r = conv2d(backend, xT, dyT, {
    strides: 1,
    pad: explicitPads(top, padBottom, left, padRight),
    dilations: [sh, sw],
  } as unknown as NamedAttrMap);
  const [, rh, rw] = r.shape;
  const rv = readFloat32(backend, r);
  disposeAll(backend, [xT, dyT, r]);
  const out = new Float32Array(kh * kw * ci * co);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let c = 0; c < ci; c++) {
        const src = ((c * rh + i) * rw + j) * co;
        out.set(rv.subarray(src, src + co), ((i * kw + j) * ci + c) * co);
      }
    }
  }
  return makeFloat32(backend, [kh, kw, ci, co], out);
}

/**
 * The filter gradient by kernels/conv_filter_grad.c, on the tfjs heap: x
 * and dy are read in place; x is copied into zero-padded scratch a chunk of
 * images at a time unless the windows stay inside it. `chunkBytes` changes
 * the speed only, never the bits (chunks hold whole summation groups).
 */
export function filterGradSimd(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: Conv2DInfo, chunkBytes = SIMD_FILTER_GRAD_CHUNK_BYTES): TensorInfo {
  const { batchSize: batch, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow } = info;
  const { outChannels: co, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top: pt, left: pl } = info.padInfo;
  // The padded input holds all of x and every row and column a window reaches
  // (a rounding mode can let the last window run past the bottom/right pads).
  const hp = Math.max(pt + h, (oh - 1) * sh + kh);
  const wp = Math.max(pl + w, (ow - 1) * sw + kw);
  const padded = hp !== h || wp !== w;
  const group = Math.max(1, Math.ceil(SIMD_FILTER_GRAD_GROUP_POSITIONS / Math.max(1, oh * ow)));
  const paddedImageWords = hp * wp * ci;
  const chunk = Math.min(batch, group * Math.max(1, Math.floor(chunkBytes / (4 * group * paddedImageWords))));
  const paddedWords = padded ? chunk * paddedImageWords : 0;
  const patchSize = kh * kw * ci;
  const [dw] = withF32(backend, { inputs: [x, dy], outputs: [[kh, kw, ci, co]], scratch: paddedWords + patchSize }, (kernels, p) => {
    const xpad = padded ? p.scratch : 0;
    const offsets = p.scratch + 4 * paddedWords;
    const geometry = [batch, chunk, group, h, w, ci, hp, wp, pt, pl, oh, ow, co, kh, kw, sh, sw];
    kernels.conv2d_filter_grad(p.inputs[0], p.inputs[1], p.outputs[0], xpad, offsets, ...geometry);
  });
  return dw;
}

function filterGradInfo(x: TensorInfo, attrs: Conv2DBackpropFilterAttrs): Conv2DInfo {
  return backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
}

/** `Conv2DBackpropFilter` for wasm (the backend has none): the SIMD kernel, or composed (`LIP_KERNELS=composed`). */
export const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as unknown as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  const wasm = backend as BackendWasm;
  const info = filterGradInfo(x, a);
  if (info.dataFormat !== 'channelsLast') {
    throw new LipError(`Conv2DBackpropFilter on wasm supports dataFormat 'NHWC' only, got '${a.dataFormat}'`);
  }
  switch (chooseFilterGradMethod(info)) {
    case 'simd':
      if (x.dtype === 'float32' && dy.dtype === 'float32' && winogradAppliesTo(info)) {
        return conv3x3WinogradFilterGrad(wasm, x, dy, info.padInfo.top, info.padInfo.left);
      }
      return filterGradSimd(wasm, x, dy, info);
    case 'patches':
      return filterGradPatches(wasm, x, dy, a);
    case 'dilated':
      return filterGradDilated(wasm, x, dy, info, a);
  }
};

/** The filter rotated by 180 degrees with in/out channels swapped: `[kh, kw, Ci, Co]` -> `[kh, kw, Co, Ci]`. */
function rotatedFilter(backend: BackendWasm, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const w = readFloat32(backend, filter);
  const out = new Float32Array(w.length);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const src = ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
      const dst = (i * kw + j) * co * ci;
      for (let c = 0; c < ci; c++) {
        for (let o = 0; o < co; o++) out[dst + o * ci + c] = w[src + c * co + o];
      }
    }
  }
  return makeFloat32(backend, [kh, kw, co, ci], out);
}

/**
 * dx as a stride-1 convolution of dy (dilated by the stride: s - 1 zeros
 * after every row and column, by a reshape to `[B, OH, 1, OW, 1, Co]` and a
 * pad) with the rotated filter.
 */
function inputGradComposed(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo {
  const pads = transposedConvPads(info);
  if (pads == null) throw new LipError('internal: transposed convolution padding is negative', 1);
  const { strideHeight: sh, strideWidth: sw } = info;
  const [b, oh, ow, co] = dy.shape;
  const temps: TensorInfo[] = [];
  let source = dy;
  if (sh > 1 || sw > 1) {
    const dilated = runWasmKernel(
      backend,
      'PadV2',
      { x: view(dy, [b, oh, 1, ow, 1, co]) },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sh - 1],
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    temps.push(dilated);
    source = view(dilated, [b, oh * sh, ow * sw, co]);
  }
  const rotated = rotatedFilter(backend, filter);
  temps.push(rotated);
  const [kh, kw] = filter.shape;
  if (source === dy && kernelChoice() === 'simd' && dy.dtype === 'float32' && winogradApplies(kh, kw, 1, 1, co, info.inChannels, info.inHeight, info.inWidth)) {
    const dx = conv3x3Winograd(backend, dy, rotated, null, pads.top, pads.left, info.inHeight, info.inWidth);
    disposeAll(backend, temps);
    return dx;
  }
  const dx = conv2d(backend, source, rotated, {
    strides: 1,
    pad: explicitPads(pads.top, pads.bottom, pads.left, pads.right),
  } as unknown as NamedAttrMap);
  disposeAll(backend, temps);
  return dx;
}

/**
 * `Conv2DBackpropInput` for wasm: the composition where it is faster, else
 * `stock` (tfjs-backend-wasm's own kernel function).
 */
export function makeConv2DBackpropInputWasm(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as unknown as { dy: TensorInfo; filter: TensorInfo };
    const a = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const info = backend_util.computeConv2DInfo(
      a.inputShape,
      filter.shape as [number, number, number, number],
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      false,
      backend_util.convertConv2DDataFormat(a.dataFormat),
    );
    if (chooseInputGradMethod(info) === 'stock') return stock(args);
    return inputGradComposed(args.backend as BackendWasm, dy, filter, info);
  };
}

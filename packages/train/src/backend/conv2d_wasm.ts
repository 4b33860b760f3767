/**
 * `Conv2D` for wasm: under the `simd` kernel choice, 3 x 3 stride-1
 * convolutions run Winograd's F(2 x 2, 3 x 3) (kernels/winograd_kernel.ts),
 * the others `stock` (XNNPACK). The layers that convolve without a bias
 * (SLLConv2D, the power iteration of the conv layers) and lip's own
 * gradient compositions (conv_backprop_wasm.ts) call this kernel.
 * sll-lift at batch 128, one thread: stock Conv2D 97 ms of a 401 ms step.
 */
import { backend_util, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { kernelChoice } from './kernels/kernel_choice';
import { conv3x3Winograd, winogradAppliesTo } from './kernels/winograd_kernel';

interface Conv2DAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** `Conv2D` for wasm: Winograd where it applies under the simd kernels, else `stock`. */
export function makeConv2DWasm(stock: KernelFunc): KernelFunc {
  return (args) => {
    if (kernelChoice() !== 'simd') return stock(args);
    const { x, filter } = args.inputs as unknown as { x: TensorInfo; filter: TensorInfo };
    const a = args.attrs as unknown as Conv2DAttrs;
    if (x.dtype !== 'float32' || filter.dtype !== 'float32' || (a.dataFormat ?? 'NHWC') !== 'NHWC' || x.shape.length !== 4) return stock(args);
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      a.strides,
      a.dilations ?? 1,
      a.pad,
      a.dimRoundingMode,
    );
    if (!winogradAppliesTo(info)) return stock(args);
    return conv3x3Winograd(args.backend as BackendWasm, x, filter, null, info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth);
  };
}

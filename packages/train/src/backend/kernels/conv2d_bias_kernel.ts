/**
 * The convolution of the conv layers with its bias folded in, for
 * tfjs-backend-wasm under the `simd` kernel choice:
 *
 *     LipConv2DBias  (x, filter, bias) -> conv2d(x, filter) + bias
 *
 * Forward: the stock FusedConv2D kernel (linear activation). XNNPACK starts
 * each output's accumulator at the bias, so the add costs nothing, where a
 * separate add reads and writes the whole output again.
 * Gradient: tfjs's Conv2D gradient (Conv2DBackpropInput and
 * Conv2DBackpropFilter: lip's kernels on wasm) and the bias as the column
 * sums of dy (LipBiasColumnSum). tfjs's own fused conv2d instead saves x
 * and the output through customGrad and sums dy with the stock Sum.
 * Seed conv 1 ([256, 28, 28, 1] -> 16 channels, one thread): forward 12.4 ->
 * 5.9 ms, forward + gradient 45 -> 29 ms against conv2d + tf.add.
 *
 * NHWC, dilation 1, 'same' or 'valid' padding (the Lipschitz conv layers).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runWasmKernel } from '../wasm_kernel_utils';
import { BIAS_COLUMN_SUM } from './bias_kernel';
import { withF32 } from './simd_kernels';
import { conv3x3Winograd, winogradAppliesTo } from './winograd_kernel';

type Shape4 = [number, number, number, number];

export const CONV2D_BIAS = 'LipConv2DBias';

export interface Conv2DBiasAttrs {
  strides: [number, number];
  pad: 'same' | 'valid';
}

export const conv2DBiasKernelConfig: KernelConfig = {
  kernelName: CONV2D_BIAS,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, filter, bias } = inputs as { x: TensorInfo; filter: TensorInfo; bias: TensorInfo };
    const { strides, pad } = attrs as unknown as Conv2DBiasAttrs;
    if (x.dtype === 'float32' && filter.dtype === 'float32' && bias.dtype === 'float32') {
      if (filter.shape[2] === 1) return conv2dCin1(backend as BackendWasm, x, filter, bias, strides, pad);
      const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, strides, 1, pad);
      if (winogradAppliesTo(info)) {
        return conv3x3Winograd(backend as BackendWasm, x, filter, bias, info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth);
      }
    }
    return runWasmKernel(
      backend as BackendWasm,
      'FusedConv2D',
      { x, filter, bias },
      { strides, pad, dataFormat: 'NHWC', dilations: [1, 1], activation: 'linear' },
    );
  },
};

/** One input channel: lip's direct SIMD convolution (kernels/conv_cin1.c, XNNPACK's bits). */
function conv2dCin1(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, bias: TensorInfo, strides: [number, number], pad: 'same' | 'valid'): TensorInfo {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
  );
  const [batch, height, width] = x.shape;
  const [kh, kw, , cout] = filter.shape;
  const [y] = withF32(backend, { inputs: [x, filter, bias], outputs: [[batch, info.outHeight, info.outWidth, cout]] }, (k, p) =>
    k.conv2d_cin1_forward(
      p.inputs[0],
      p.inputs[1],
      p.inputs[2],
      p.outputs[0],
      batch,
      height,
      width,
      kh,
      kw,
      cout,
      strides[0],
      strides[1],
      info.padInfo.top,
      info.padInfo.left,
      info.outHeight,
      info.outWidth,
    ),
  );
  return y;
}

export const conv2DBiasGradConfig: GradConfig = {
  kernelName: CONV2D_BIAS,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved;
    const g = dy as tf.Tensor;
    const { strides, pad } = attrs as unknown as Conv2DBiasAttrs;
    const convAttrs = { strides, pad, dataFormat: 'NHWC' };
    return {
      x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: g, filter }, { ...convAttrs, inputShape: x.shape }) as tf.Tensor,
      filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: g }, { ...convAttrs, filterShape: filter.shape }) as tf.Tensor,
      bias: () => tf.engine().runKernel(BIAS_COLUMN_SUM, { dy: g }) as tf.Tensor,
    };
  },
};

/** `conv2d(x, filter, strides, pad) + bias` by LipConv2DBias (the caller checks that it applies: wasm, simd, float32). */
export function conv2dBiasSimd(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, attrs: Conv2DBiasAttrs): tf.Tensor4D {
  return tf.engine().runKernel(CONV2D_BIAS, { x, filter, bias }, attrs as unknown as NamedAttrMap) as tf.Tensor4D;
}

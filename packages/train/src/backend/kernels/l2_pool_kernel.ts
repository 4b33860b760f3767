/**
 * The scaled L2-norm pooling as one wasm SIMD pass each way
 * (kernels/l2pool.c), in place of the composed
 * `sqrt(k avgPool(x^2))` and its gradient (functional/pooling.ts):
 *
 *     LipScaledL2Pool2D      x -> y = sqrt(sum over each window of x^2)
 *     LipScaledL2Pool2DGrad  (x, y, dy) -> dx = x dy / (y == 0 ? 1 : y) on window pixels, x * 0 elsewhere
 *
 * NHWC, 'valid' windows that do not overlap (strides >= poolSize; the
 * caller checks). The gradient's rule at zero windows is the composed
 * form's, `dy / (norm + 1 - sign(norm))`, so its bits equal the composed
 * gradient's for the same norm; the norm itself differs from
 * `sqrt(k avgPool(x^2))` by a few roundings.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { withF32 } from './simd_kernels';

export const SCALED_L2_POOL = 'LipScaledL2Pool2D';
export const SCALED_L2_POOL_GRAD = 'LipScaledL2Pool2DGrad';

export interface ScaledL2PoolAttrs {
  poolSize: [number, number];
  strides: [number, number];
}

/** [batch, height, width, channels, ph, pw, sh, sw, oh, ow], as the C functions take them. */
function geometry(xShape: number[], attrs: ScaledL2PoolAttrs): number[] {
  const [batch, height, width, channels] = xShape;
  const [ph, pw] = attrs.poolSize;
  const [sh, sw] = attrs.strides;
  const oh = Math.floor((height - ph) / sh) + 1;
  const ow = Math.floor((width - pw) / sw) + 1;
  return [batch, height, width, channels, ph, pw, sh, sw, oh, ow];
}

export const scaledL2PoolKernelConfig: KernelConfig = {
  kernelName: SCALED_L2_POOL,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const geo = geometry(x.shape, attrs as unknown as ScaledL2PoolAttrs);
    const [batch, , , channels, , , , , oh, ow] = geo;
    const [y] = withF32(backend as BackendWasm, { inputs: [x], outputs: [[batch, oh, ow, channels]] }, (k, p) =>
      k.l2pool_forward(p.inputs[0], p.outputs[0], ...geo),
    );
    return y;
  },
};

export const scaledL2PoolGradKernelConfig: KernelConfig = {
  kernelName: SCALED_L2_POOL_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, y, dy } = inputs as { x: TensorInfo; y: TensorInfo; dy: TensorInfo };
    const geo = geometry(x.shape, attrs as unknown as ScaledL2PoolAttrs);
    const [dx] = withF32(backend as BackendWasm, { inputs: [x, y, dy], outputs: [x.shape] }, (k, p) =>
      k.l2pool_backward(p.inputs[0], p.inputs[1], p.inputs[2], p.outputs[0], ...geo),
    );
    return dx;
  },
};

export const scaledL2PoolGradConfig: GradConfig = {
  kernelName: SCALED_L2_POOL,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, y] = saved;
    return {
      x: () => tf.engine().runKernel(SCALED_L2_POOL_GRAD, { x, y, dy: dy as tf.Tensor }, attrs as NamedAttrMap) as tf.Tensor,
    };
  },
};

/** The scaled L2 pool of a float32 NHWC tensor by the SIMD kernel (the caller checks the geometry). */
export function scaledL2Pool2dSimd(x: tf.Tensor4D, attrs: ScaledL2PoolAttrs): tf.Tensor4D {
  return tf.engine().runKernel(SCALED_L2_POOL, { x }, attrs as unknown as NamedAttrMap) as tf.Tensor4D;
}

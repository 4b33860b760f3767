/**
 * GroupSort2 as one wasm SIMD pass each way (kernels/groupsort2.c), in
 * place of the composed `x + relu(x P) Q` (functional/group_sort.ts):
 *
 *     LipGroupSort2      x -> y,        (a, b) -> (min, max) per channel pair
 *     LipGroupSort2Grad  (x, dy) -> dx, dy routed by the comparison of x
 *
 * Tie rule of the composed form: a pair is swapped iff a > b, so at ties
 * (and -0 vs +0) values and gradient go straight through. A pair holding a
 * NaN gives (NaN, NaN), value and gradient (the composed form spreads a NaN
 * over the whole row through its matMul). Unlike the composed form, the
 * values and the gradient are exact permutations (it rounds a - b once).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { withF32 } from './simd_kernels';

export const GROUP_SORT2 = 'LipGroupSort2';
export const GROUP_SORT2_GRAD = 'LipGroupSort2Grad';

function pairsOf(x: TensorInfo): number {
  return tf.util.sizeFromShape(x.shape) / 2;
}

export const groupSort2KernelConfig: KernelConfig = {
  kernelName: GROUP_SORT2,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { x } = inputs as { x: TensorInfo };
    const [y] = withF32(backend as BackendWasm, { inputs: [x], outputs: [x.shape] }, (k, p) => k.groupsort2_forward(p.inputs[0], p.outputs[0], pairsOf(x)));
    return y;
  },
};

export const groupSort2GradKernelConfig: KernelConfig = {
  kernelName: GROUP_SORT2_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const [dx] = withF32(backend as BackendWasm, { inputs: [x, dy], outputs: [x.shape] }, (k, p) =>
      k.groupsort2_backward(p.inputs[0], p.inputs[1], p.outputs[0], pairsOf(x)),
    );
    return dx;
  },
};

export const groupSort2GradConfig: GradConfig = {
  kernelName: GROUP_SORT2,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return { x: () => tf.engine().runKernel(GROUP_SORT2_GRAD, { x, dy: dy as tf.Tensor }) as tf.Tensor };
  },
};

/** GroupSort2 of a float32 tensor with an even last axis, by the SIMD kernel (the caller checks). */
export function groupSort2Simd(x: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(GROUP_SORT2, { x }) as tf.Tensor;
}

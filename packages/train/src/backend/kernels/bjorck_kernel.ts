/**
 * Björck orthonormalization as one wasm SIMD call each way
 * (kernels/bjorck.c, which states the formulas), in place of the tfjs ops
 * of normalizers/bjorck.ts (Gram form: ~60 per direction at 15 steps):
 *
 *     LipBjorck      w -> [out, trace]        out = Björck(w), trace = the iterates the gradient needs
 *     LipBjorckGrad  (w, trace, dy) -> dw     the chain rule through the same iteration
 *
 * In the Gram form (`form: 'gram'`, bjorck_small.ts's maths) or on `w`
 * itself (`'direct'`, for square-ish matrices), as bjorck.ts chooses; float32
 * with a fixed summation order: the result depends on the inputs alone. A
 * wide `w` is orthonormalized as the transpose of a tall one.
 *
 * `bjorckSimd` wraps the pair in `tf.customGrad`, which saves `w` and the
 * trace for the gradient only while the tape records (as clones, which
 * share the buffer under simd: identity_wasm.ts) and gives the trace no
 * gradient: a registered gradient of a two-output kernel would get a
 * zero-filled `dTrace` from the engine.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels, withF32 } from './simd_kernels';

export const BJORCK = 'LipBjorck';
export const BJORCK_GRAD = 'LipBjorckGrad';

export interface BjorckAttrs {
  /** Björck steps, >= 1. */
  niter: number;
  /** Step size. */
  beta: number;
  /** Iterate on the Gram matrix `w^T w` (or `w w^T`), or on `w` itself. */
  form: BjorckForm;
}

export type BjorckForm = 'gram' | 'direct';

/** A size export of bjorck.c (floats of trace or scratch). */
function sizeFrom(backend: BackendWasm, name: string, ...args: number[]): number {
  return (simdKernels(backend)[name] as unknown as (...a: number[]) => number)(...args);
}

export const bjorckKernelConfig: KernelConfig = {
  kernelName: BJORCK,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { w } = inputs as { w: TensorInfo };
    const { niter, beta, form } = attrs as unknown as BjorckAttrs;
    const wasm = backend as BackendWasm;
    const [rows, cols] = w.shape;
    const direct = form === 'direct' ? 1 : 0;
    const call = {
      inputs: [w],
      outputs: [w.shape, [sizeFrom(wasm, 'bjorck_trace_size', rows, cols, niter, direct)]],
      scratch: sizeFrom(wasm, 'bjorck_forward_scratch', rows, cols, direct),
    };
    return withF32(wasm, call, (k, p) => k.bjorck_forward(p.inputs[0], p.outputs[0], p.outputs[1], p.scratch, rows, cols, niter, 1 + beta, beta, direct));
  },
};

export const bjorckGradKernelConfig: KernelConfig = {
  kernelName: BJORCK_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { w, trace, dy } = inputs as { w: TensorInfo; trace: TensorInfo; dy: TensorInfo };
    const { niter, beta, form } = attrs as unknown as BjorckAttrs;
    const wasm = backend as BackendWasm;
    const [rows, cols] = w.shape;
    const direct = form === 'direct' ? 1 : 0;
    const call = { inputs: [w, trace, dy], outputs: [w.shape], scratch: sizeFrom(wasm, 'bjorck_backward_scratch', rows, cols, direct) };
    const [dw] = withF32(wasm, call, (k, p) =>
      k.bjorck_backward(p.inputs[0], p.inputs[1], p.inputs[2], p.outputs[0], p.scratch, rows, cols, niter, 1 + beta, beta, direct),
    );
    return dw;
  },
};

/** `bjorckOrthonormalize(w, niter, beta)` of a float32 `w` in `form` by the SIMD kernels, `niter >= 1` (the caller checks). */
export function bjorckSimd(w: tf.Tensor2D, niter: number, beta: number, form: BjorckForm): tf.Tensor2D {
  const attrs = { niter, beta, form } as unknown as NamedAttrMap;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const [out, trace] = tf.engine().runKernel(BJORCK, { w: input }, attrs) as tf.Tensor[];
    save([input, trace]);
    return {
      value: out as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => tf.engine().runKernel(BJORCK_GRAD, { w: saved[0], trace: saved[1], dy }, attrs) as tf.Tensor2D,
    };
  });
  return op(w);
}

/**
 * `Identity` for tfjs-backend-wasm without the copy, under the `simd` kernel
 * choice.
 *
 * The engine clones every tensor the tape saves for a gradient
 * (`saveTensorsForBackwardMode`: inputs and outputs of GroupSort2, the L2
 * pool, the convolutions, ...), and the stock wasm `Identity` copies the
 * whole buffer. Tensors are immutable and the wasm backend counts references
 * per buffer (its `Reshape` already shares the input's buffer the same way),
 * so the clone can share the buffer: one reference more, freed with the last
 * tensor that uses it. Values are unchanged; about 8% of a training step
 * (batch 512, one thread) was these copies. Under `composed` the stock kernel
 * runs, as before.
 */
import { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { kernelChoice } from './kernels/kernel_choice';

/** `Identity` for wasm: a shared buffer under simd (strings and `composed` go to `stock`). */
export function makeIdentityWasm(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as unknown as { x: TensorInfo };
    if (x.dtype === 'string' || kernelChoice() !== 'simd') return stock(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

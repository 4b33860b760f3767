/**
 * lip's SIMD kernels on the threaded tfjs-backend-wasm, whose heap is a
 * shared memory (its own test file: a wasm backend starts once per process,
 * with a fixed thread count).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { expectCloseRelMax, uniformArray } from '@lip/test-support';
import { withKernels } from '@lip/test-support/kernels';
import { groupSort2 } from '../../functional/group_sort';
import { scaledL2NormPool2d } from '../../functional/pooling';
import { selectBackend } from '../select_backend';
import type { KernelChoice } from './kernel_choice';

/** [groupSort2 value, its gradient, L2 pool value, its gradient] with the chosen kernels. */
function run(choice: KernelChoice, xData: Float32Array, shape: [number, number, number, number]): Float32Array[] {
  return withKernels(choice, () =>
    tf.tidy(() => {
      const x = tf.tensor4d(xData, shape);
      const w = tf.tensor(uniformArray(xData.length, 3, -1, 1), shape);
      const pool = (t: tf.Tensor) => scaledL2NormPool2d(t as tf.Tensor4D, [2, 2]);
      return [
        groupSort2(x),
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(groupSort2(t), w)))(x),
        pool(x),
        tf.grad((t: tf.Tensor) => tf.sum(tf.square(pool(t))))(x),
      ].map((t) => t.dataSync() as Float32Array);
    }),
  );
}

test('on 2 threads (shared memory) the kernels run and agree with the composed form', async () => {
  const selected = await selectBackend('wasm', { threads: 2 });
  expect(selected.description).toBe('wasm (XNNPACK, SIMD, 2 threads)');
  const heap = (tf.backend() as unknown as { wasm: { wasmMemory: { buffer: ArrayBufferLike } } }).wasm.wasmMemory;
  expect(Object.prototype.toString.call(heap.buffer)).toBe('[object SharedArrayBuffer]');

  const shape: [number, number, number, number] = [3, 10, 10, 16];
  const xData = uniformArray(3 * 10 * 10 * 16, 2, -2, 2);
  const profile = await tf.profile(() => {
    run('simd', xData, shape);
  });
  expect(profile.kernelNames).toEqual(expect.arrayContaining(['LipGroupSort2', 'LipGroupSort2Grad', 'LipScaledL2Pool2D', 'LipScaledL2Pool2DGrad']));
  const simd = run('simd', xData, shape);
  const composed = run('composed', xData, shape);
  simd.forEach((values, i) => expectCloseRelMax(values, composed[i], 1e-5));
  // Longer than the start's watchdog (2 min): a start that hangs fails with its message, not Jest's timeout.
}, 240_000);

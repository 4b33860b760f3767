/**
 * The wasm `Identity` under simd shares its input's buffer (no copy), and the
 * buffer lives until the last tensor using it is disposed; composed copies.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { useKernelSetup, withKernels } from '@lip/test-support/kernels';
import { groupSort2 } from '../functional/group_sort';

useKernelSetup('wasm');

/** Where `t`'s data sits in the wasm heap. */
function offsetOf(t: tf.Tensor): number {
  return (tf.backend() as BackendWasm).dataIdMap.get(t.dataId)!.memoryOffset;
}

test.each([
  ['simd', true],
  ['composed', false],
] as const)('%s: a clone shares the buffer: %s; values and lifetimes are those of a copy', (choice, shared) => {
  withKernels(choice, () => {
    const before = tf.backend().numDataIds();
    const x = tf.tensor2d([1, -2, 3, 4.5], [2, 2]);
    const y = tf.clone(x);
    expect(offsetOf(y) === offsetOf(x)).toBe(shared);
    expect(tf.backend().numDataIds()).toBe(before + (shared ? 1 : 2));
    x.dispose();
    // The clone outlives its source.
    expect(Array.from(y.dataSync())).toEqual([1, -2, 3, 4.5]);
    expect(tf.tidy(() => tf.add(y, 1).arraySync())).toEqual([
      [2, -1],
      [4, 5.5],
    ]);
    y.dispose();
    expect(tf.backend().numDataIds()).toBe(before);
  });
});

test('simd: the tape saves tensors without copying them, and gradients are those of composed', () => {
  const x = tf.randomNormal([8, 6, 6, 4], 0, 1, 'float32', 3);
  const loss = (t: tf.Tensor): tf.Scalar => tf.sum(tf.mul(groupSort2(tf.mul(t, 1.5)), tf.range(0, 4)));
  const run = (choice: 'simd' | 'composed'): { grad: Float32Array; kernels: Promise<string[]> } =>
    withKernels(choice, () => {
      const grad = tf.tidy(() => tf.grad(loss)(x).dataSync() as Float32Array);
      const kernels = tf.profile(() => tf.tidy(() => tf.grad(loss)(x))).then((p) => p.kernelNames);
      return { grad, kernels };
    });
  const simd = run('simd');
  const composed = run('composed');
  expect(Array.from(simd.grad)).toEqual(Array.from(withKernels('simd', () => tf.tidy(() => tf.grad(loss)(x).dataSync() as Float32Array))));
  const diff = simd.grad.reduce((m, v, i) => Math.max(m, Math.abs(v - composed.grad[i])), 0);
  expect(diff).toBeLessThanOrEqual(1e-5 * Math.max(...composed.grad.map(Math.abs)));
  x.dispose();
  return simd.kernels.then((names) => expect(names).toContain('Identity'));
});

/** The kernel helpers catch what they are for: a kernel in the wrong path, differing runs, a leak. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { GROUP_SORT2 } from '../../packages/train/src/backend/kernels/group_sort2_kernel';
import { kernelChoice } from '../../packages/train/src/backend/kernels/kernel_choice';
import { groupSort2 } from '../../packages/train/src/functional/group_sort';
import { bitsOf } from './compare';
import { composedReferences, expectNoKernelLeak, expectOnlySimdRuns, expectSameBitsTwice, kernelsRun, useKernelSetup, withKernels } from './kernels';

useKernelSetup('wasm');

test('withKernels chooses for the call only, also when it throws', () => {
  expect(withKernels('composed', () => kernelChoice())).toBe('composed');
  expect(() =>
    withKernels('composed', () => {
      throw new Error('kernel failed');
    }),
  ).toThrow('kernel failed');
  expect(kernelChoice()).toBe(process.env.LIP_KERNELS || 'simd');
});

test('composedReferences runs the composed kernels on wasm, then cpu, and leaves wasm on', async () => {
  expect(await composedReferences(() => [tf.getBackend(), kernelChoice()])).toEqual([
    ['wasm', 'composed'],
    ['cpu', process.env.LIP_KERNELS || 'simd'],
  ]);
  expect(tf.getBackend()).toBe('wasm');
});

test('expectOnlySimdRuns fails when a kernel is missing from the SIMD path or runs in the composed one', async () => {
  const x = tf.ones([2, 4]);
  expect(await kernelsRun('simd', () => groupSort2(x))).toContain(GROUP_SORT2);
  expect(await kernelsRun('composed', () => groupSort2(x))).not.toContain(GROUP_SORT2);
  await expectOnlySimdRuns([GROUP_SORT2], () => groupSort2(x));
  await expect(expectOnlySimdRuns([GROUP_SORT2], () => tf.add(x, x))).rejects.toThrow();
  await expect(expectOnlySimdRuns(['Add'], () => tf.add(x, x))).rejects.toThrow();
  x.dispose();
});

test('expectSameBitsTwice tells -0 from 0', () => {
  expect(bitsOf(Float32Array.of(-0))).not.toEqual(bitsOf(Float32Array.of(0)));
  let sign = 1;
  expect(() => expectSameBitsTwice(() => [Float32Array.of((sign = -sign) * 0)])).toThrow();
  expectSameBitsTwice(() => [Float32Array.of(0, NaN)]);
});

test('expectNoKernelLeak fails on an op that keeps a tensor', () => {
  const x = tf.ones([2, 4]);
  expectNoKernelLeak(groupSort2, x);
  const leaky = (t: tf.Tensor): tf.Tensor => {
    tf.keep(tf.add(t, 1));
    return groupSort2(t);
  };
  expect(() => expectNoKernelLeak(leaky, x)).toThrow();
  x.dispose();
});

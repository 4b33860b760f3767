/** Sum on wasm with lip's kernel matches the cpu backend, over leading axes and otherwise. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { installWasmKernels } from './install_wasm_kernels';
import { withNoLeak } from './memory';
import { reducesLeadingAxes } from './sum_wasm';

const CASES: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean; leading: boolean }> = [
  { shape: [4, 7, 5, 6], axis: [0, 1, 2], keepDims: false, leading: true },
  { shape: [4, 7, 5, 6], axis: [2, 0, 1], keepDims: true, leading: true },
  { shape: [9, 3], axis: 0, keepDims: false, leading: true },
  { shape: [3, 4, 5], axis: [-3, -2], keepDims: false, leading: true },
  { shape: [4, 7, 5, 6], axis: [1, 2], keepDims: false, leading: false },
  { shape: [4, 7, 5, 6], axis: [0, 1, 2, 3], keepDims: false, leading: false },
  { shape: [6], axis: 0, keepDims: false, leading: false },
];

function sum(shape: number[], axis: number | number[], keepDims: boolean): { values: Float32Array; shape: number[] } {
  return tf.tidy(() => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(
      Float32Array.from({ length: n }, (_, i) => Math.sin(0.7 * i) + 0.1),
      shape,
    );
    const s = tf.sum(x, axis, keepDims);
    return { values: s.dataSync() as Float32Array, shape: s.shape };
  });
}

beforeAll(() => installWasmKernels());

test.each(CASES)('sum of $shape over $axis (keepDims $keepDims) matches cpu', async ({ shape, axis, keepDims, leading }) => {
  expect(reducesLeadingAxes(axis, shape.length)).toBe(leading);
  await tf.setBackend('cpu');
  const cpu = sum(shape, axis, keepDims);
  await tf.setBackend('wasm');
  const wasm = withNoLeak(() => sum(shape, axis, keepDims));
  expect(wasm.shape).toEqual(cpu.shape);
  wasm.values.forEach((v, i) => expect(Math.abs(v - cpu.values[i])).toBeLessThan(1e-4));
});

test('the bias gradient of a conv on wasm matches cpu', async () => {
  const grad = (): Float32Array =>
    tf.tidy(() => {
      const x = tf.tensor4d(
        Float32Array.from({ length: 2 * 6 * 6 * 3 }, (_, i) => Math.cos(i)),
        [2, 6, 6, 3],
      );
      const w = tf.tensor4d(
        Float32Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.sin(i)),
        [3, 3, 3, 4],
      );
      const r = tf.tensor4d(
        Float32Array.from({ length: 2 * 6 * 6 * 4 }, (_, i) => Math.sin(2 * i)),
        [2, 6, 6, 4],
      );
      const f = (b: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.conv2d(x, w, 1, 'same'), b), r));
      return tf
        .grad(f)(tf.zeros([4]))
        .dataSync() as Float32Array;
    });
  await tf.setBackend('cpu');
  const cpu = grad();
  await tf.setBackend('wasm');
  const wasm = grad();
  wasm.forEach((v, i) => expect(Math.abs(v - cpu[i])).toBeLessThan(1e-4));
});

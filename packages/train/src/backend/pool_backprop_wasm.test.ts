/** AvgPoolGrad on wasm with lip's kernel matches the cpu backend. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { installWasmKernels } from './install_wasm_kernels';
import { withNoLeak } from './memory';
import { poolWindowsTile } from './pool_backprop_wasm';

interface Case {
  name: string;
  x: [number, number, number, number];
  pool: [number, number];
  strides: [number, number];
  pad: 'valid' | 'same';
  tiles: boolean;
}

const CASES: Case[] = [
  { name: '2x2 / 2, valid (the reference network)', x: [2, 8, 8, 3], pool: [2, 2], strides: [2, 2], pad: 'valid', tiles: true },
  { name: '2x2 / 2, same, even size', x: [2, 8, 6, 3], pool: [2, 2], strides: [2, 2], pad: 'same', tiles: true },
  { name: '3x2 / [3, 2], valid', x: [2, 9, 8, 4], pool: [3, 2], strides: [3, 2], pad: 'valid', tiles: true },
  { name: '2x2 / 2, valid, odd size (stock)', x: [2, 7, 7, 3], pool: [2, 2], strides: [2, 2], pad: 'valid', tiles: false },
  { name: '3x3 / 1, same, overlapping (stock)', x: [2, 6, 6, 2], pool: [3, 3], strides: [1, 1], pad: 'same', tiles: false },
];

function avgPoolGrad(c: Case, x: Float32Array, r: Float32Array): Float32Array {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const f = (a: tf.Tensor) => {
      const y = tf.avgPool(a as tf.Tensor4D, c.pool, c.strides, c.pad);
      return tf.sum(tf.mul(y, tf.tensor(r.subarray(0, y.size), y.shape)));
    };
    return tf.grad(f)(xt).dataSync() as Float32Array;
  });
}

beforeAll(() => installWasmKernels());

test.each(CASES)('avgPool gradient on wasm: $name', async (c) => {
  const info = tf.backend_util.computePool2DInfo(c.x, c.pool, c.strides, 1, c.pad);
  expect(poolWindowsTile(info)).toBe(c.tiles);
  const n = c.x.reduce((a, b) => a * b);
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const r = Float32Array.from({ length: n }, (_, i) => Math.cos(3 * i));
  await tf.setBackend('cpu');
  const cpu = avgPoolGrad(c, x, r);
  await tf.setBackend('wasm');
  const wasm = withNoLeak(() => avgPoolGrad(c, x, r));
  expect(wasm.length).toBe(cpu.length);
  wasm.forEach((v, i) => expect(Math.abs(v - cpu[i])).toBeLessThan(1e-6));
});

/**
 * Stock tfjs-backend-wasm cannot train a conv (no Conv2DBackpropFilter);
 * installWasmKernels() fixes that, idempotently.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { installWasmKernels, uninstallWasmKernels, wasmKernelsInstalled } from './install_wasm_kernels';

function convFilterGrad(): Float32Array {
  return tf.tidy(() => {
    const x = tf.ones([1, 5, 5, 2]) as tf.Tensor4D;
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'same')));
    return g(tf.ones([3, 3, 2, 1])).dataSync() as Float32Array;
  });
}

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
});

test('stock wasm has no Conv2DBackpropFilter, so tf.grad through conv2d throws', () => {
  expect(wasmKernelsInstalled()).toBe(false);
  expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
  expect(convFilterGrad).toThrow(/Conv2DBackpropFilter/);
});

test('after installWasmKernels, tf.grad through conv2d works', () => {
  installWasmKernels();
  expect(wasmKernelsInstalled()).toBe(true);
  // All-ones input and filter on a 5x5 'same' conv: each filter tap sees the
  // pixels it overlaps, 4 / 5 / 4 ... (corners 16, edges 20, centre 25).
  const dw = convFilterGrad();
  expect(Array.from(dw)).toEqual([16, 16, 20, 20, 16, 16, 20, 20, 25, 25, 20, 20, 16, 16, 20, 20, 16, 16]);
});

test('installing again changes nothing and warns about nothing', () => {
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    const before = tf.getKernel('Conv2DBackpropInput', 'wasm');
    installWasmKernels();
    installWasmKernels();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBe(before);
    expect(warn).not.toHaveBeenCalled();
  } finally {
    warn.mockRestore();
  }
});

test('the replaced stock kernel keeps its setup function, and uninstalling restores it', () => {
  const ours = tf.getKernel('Conv2DBackpropInput', 'wasm');
  expect(ours?.setupFunc).toBeDefined();
  uninstallWasmKernels();
  expect(wasmKernelsInstalled()).toBe(false);
  const stock = tf.getKernel('Conv2DBackpropInput', 'wasm');
  expect(stock?.kernelFunc).not.toBe(ours?.kernelFunc);
  expect(stock?.setupFunc).toBe(ours?.setupFunc);
  expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
  expect(convFilterGrad).toThrow(/Conv2DBackpropFilter/);
  installWasmKernels();
  expect(wasmKernelsInstalled()).toBe(true);
});

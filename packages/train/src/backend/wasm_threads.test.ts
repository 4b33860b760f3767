/**
 * The threaded wasm binary under Node (its own test file: a wasm backend
 * starts once per process, with a fixed thread count).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { selectBackend } from './select_backend';

// The module objects themselves (an import-star copy would not see the startup patches).
const fs: typeof import('fs') = require('fs');
const os: typeof import('os') = require('os');
const workerThreads: typeof import('worker_threads') = require('worker_threads');

test('selectBackend("wasm", { threads: 2 }) runs 2 XNNPACK threads and computes what cpu does', async () => {
  const cpusBefore = os.cpus;
  const blobBefore = globalThis.Blob;
  const workerBefore = workerThreads.Worker;
  const selected = await selectBackend('wasm', { threads: 2 });
  expect(selected).toEqual({ name: 'wasm', description: 'wasm (XNNPACK, SIMD, 2 threads)' });
  // Startup patches are undone, temporary files removed.
  expect(os.cpus).toBe(cpusBefore);
  expect(globalThis.Blob).toBe(blobBefore);
  expect(workerThreads.Worker).toBe(workerBefore);
  expect((globalThis as unknown as { Worker: unknown }).Worker).toBe(workerBefore);
  // This process's folder only: another process (a parallel Jest worker) may be starting its own.
  expect(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`lip-wasm-${process.pid}-`))).toEqual([]);

  const x = tf.randomUniform([4, 10, 10, 16], -1, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomUniform([3, 3, 16, 32], -1, 1, 'float32', 2) as tf.Tensor4D;
  const grad = () =>
    tf.tidy(() => {
      const g = tf.grad((k: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, k as tf.Tensor4D, 1, 'same'))));
      return g(w).dataSync() as Float32Array;
    });
  const wasm = grad();
  await tf.setBackend('cpu');
  const cpu = grad();
  let diff = 0;
  let scale = 0;
  cpu.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - wasm[i]));
    scale = Math.max(scale, Math.abs(v));
  });
  expect(diff / scale).toBeLessThan(1e-4);
  tf.dispose([x, w]);
  // Longer than the start's watchdog (2 min): a start that hangs fails with its message, not Jest's timeout.
}, 240_000);

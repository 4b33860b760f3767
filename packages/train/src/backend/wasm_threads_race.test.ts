/**
 * Issue 17: the threaded wasm start hung now and then. Emscripten asks for
 * the pthread worker script once per worker (8 times); the script file was
 * rewritten (truncated, then written) each time, and under strace a worker
 * already starting on its own thread read it empty, exited without a word,
 * and Emscripten waited for it forever. Here the writer is descheduled right
 * after truncating an existing script, as the kernel did in that trace, so a
 * worker reads the empty file whenever one is rewritten. (Its own file: a
 * wasm backend starts once per process.)
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from './select_backend';

// The module object wasm_threads.ts writes with (an import-star copy would not be spied on).
const fs: typeof import('fs') = require('fs');

/** How long the writer stays descheduled after truncating: far longer than a worker takes to start. */
const DESCHEDULED_MS = 500;

test('a pthread worker never finds its script file half-written: the threaded wasm backend starts', async () => {
  const ownFolder = `lip-wasm-${process.pid}-`;
  const writeFileSync = fs.writeFileSync;
  let rewrites = 0;
  const spy = jest.spyOn(fs, 'writeFileSync').mockImplementation((file, data, options) => {
    if (typeof file === 'string' && file.includes(ownFolder) && fs.existsSync(file)) {
      rewrites++;
      fs.truncateSync(file, 0);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, DESCHEDULED_MS);
    }
    writeFileSync(file, data, options);
  });
  try {
    const selected = await selectBackend('wasm', { threads: 2 });
    expect(selected.description).toBe('wasm (XNNPACK, SIMD, 2 threads)');
  } finally {
    spy.mockRestore();
  }
  expect(rewrites).toBe(0);
  // The pool computes: a matMul large enough for XNNPACK to split.
  const a = tf.randomUniform([64, 64], -1, 1, 'float32', 1);
  const b = tf.randomUniform([64, 64], -1, 1, 'float32', 2);
  const wasm = tf.matMul(a, b).dataSync();
  await tf.setBackend('cpu');
  const cpu = tf.matMul(a, b).dataSync();
  cpu.forEach((v, i) => expect(Math.abs(v - wasm[i])).toBeLessThan(1e-4));
});

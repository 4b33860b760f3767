/**
 * The threaded wasm start has a watchdog: pthread workers that never load
 * (here every one blocks for good before it reads its first message) fail
 * the start with a WorkerStuckError naming them, within the bound, and the
 * workers are stopped. (Its own file: a wasm backend starts once per process.)
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { WorkerStuckError } from '@lip/core';
import { selectBackend } from './select_backend';

// The module objects wasm_threads.ts uses (an import-star copy would not be spied on or patched).
const fs: typeof import('fs') = require('fs');
const os: typeof import('os') = require('os');
const workerThreads: typeof import('worker_threads') = require('worker_threads');

const BOUND_MS = 2000;
const STUCK_FOREVER = 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);\n';

let savedTimeout: string | undefined;
beforeAll(() => {
  savedTimeout = process.env.LIP_WORKER_TIMEOUT_MS;
  process.env.LIP_WORKER_TIMEOUT_MS = String(BOUND_MS);
});
afterAll(() => {
  if (savedTimeout === undefined) delete process.env.LIP_WORKER_TIMEOUT_MS;
  else process.env.LIP_WORKER_TIMEOUT_MS = savedTimeout;
});

test('pthread workers that never load: a clear error within the bound, workers stopped, patches undone', async () => {
  const ownFolder = `lip-wasm-${process.pid}-`;
  const writeFileSync = fs.writeFileSync;
  // Every pthread worker script blocks for good before it listens for messages.
  const write = jest.spyOn(fs, 'writeFileSync').mockImplementation((file, data, options) => {
    const stuck = typeof file === 'string' && file.includes(ownFolder) && String(data).startsWith('"use strict";var Module={}');
    writeFileSync(file, stuck ? STUCK_FOREVER + String(data) : data, options);
  });
  const terminate = jest.spyOn(workerThreads.Worker.prototype, 'terminate');
  const cpusBefore = os.cpus;
  const workerBefore = workerThreads.Worker;
  const started = Date.now();
  let error: unknown;
  try {
    await selectBackend('wasm', { threads: 2 });
  } catch (err) {
    error = err;
  } finally {
    write.mockRestore();
  }
  const elapsed = Date.now() - started;
  expect(error).toBeInstanceOf(WorkerStuckError);
  expect((error as WorkerStuckError).exitCode).toBe(1);
  expect((error as Error).message).toBe(
    'the threaded wasm backend (2 threads) did not start: pthread workers 1, 2, 3, 4, 5, 6, 7, 8 of 8 never loaded ' +
      "within 2 s; set $LIP_WORKER_TIMEOUT_MS to allow more, or use 'threads: 1'",
  );
  // Reported after the bound, not after Jest's timeout (generous: a loaded machine).
  expect(elapsed).toBeGreaterThanOrEqual(BOUND_MS);
  expect(elapsed).toBeLessThan(BOUND_MS + 30_000);
  // The 8 blocked workers were stopped (nothing else would, and they keep the process alive).
  expect(terminate).toHaveBeenCalledTimes(8);
  terminate.mockRestore();
  expect(os.cpus).toBe(cpusBefore);
  expect(workerThreads.Worker).toBe(workerBefore);
  expect(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(ownFolder))).toEqual([]);
  // tfjs no longer waits for the abandoned start: 'threads: 1' (which the message suggests) starts.
  expect((await selectBackend('wasm')).description).toBe('wasm (XNNPACK, SIMD, 1 thread)');
  expect(tf.add(tf.scalar(1), tf.scalar(2)).dataSync()[0]).toBe(3);
});

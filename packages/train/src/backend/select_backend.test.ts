import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, LipError } from '../errors';
import { backendName, describeBackend, selectBackend } from './select_backend';
import { wasmKernelsInstalled } from './install_wasm_kernels';

function installed(id: string): boolean {
  try {
    require.resolve(id);
    return true;
  } catch {
    return false;
  }
}
const noTensorflow = !installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu');

test("'cpu' selects the cpu backend", async () => {
  await expect(selectBackend('cpu')).resolves.toEqual({ name: 'cpu', description: 'cpu (plain JavaScript, 1 thread)' });
  expect(tf.getBackend()).toBe('cpu');
  expect(backendName()).toBe('cpu');
});

test("'wasm' selects wasm, installs lip's kernels and says what runs", async () => {
  const selected = await selectBackend('wasm');
  expect(selected.name).toBe('wasm');
  expect(tf.getBackend()).toBe('wasm');
  expect(selected.description).toMatch(/^wasm \(XNNPACK, (SIMD|no SIMD), 1 thread\)$/);
  expect(describeBackend()).toBe(selected.description);
  expect(wasmKernelsInstalled()).toBe(true);
});

(noTensorflow ? test : test.skip)("'tensorflow' without tfjs-node fails with one clear LipError naming the fix", async () => {
  const err = await selectBackend('tensorflow').then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LipError);
  expect((err as LipError).exitCode).toBe(2);
  expect((err as Error).message).toContain('npm install @tensorflow/tfjs-node');
  expect((err as Error).message).toContain('@tensorflow/tfjs-node is not installed');
});

(noTensorflow ? test : test.skip)("'auto' without tfjs-node picks wasm", async () => {
  await selectBackend('cpu');
  await expect(selectBackend()).resolves.toMatchObject({ name: 'wasm' });
  expect(tf.getBackend()).toBe('wasm');
});

test('a bad preference or thread count is an InvalidArgumentError quoting the parameter', async () => {
  await expect(selectBackend('webgl' as never)).rejects.toThrow(InvalidArgumentError);
  await expect(selectBackend('webgl' as never)).rejects.toThrow(`'backend' must be one of 'auto', 'tensorflow', 'wasm', 'cpu', got "webgl"`);
  for (const threads of [0, 1.5, 9, Number.NaN]) {
    await expect(selectBackend('wasm', { threads })).rejects.toThrow(/^'threads' must be an integer in \[1, 8\]/);
  }
});

test('once wasm runs single-threaded, asking for 2 threads is a clear error', async () => {
  await selectBackend('wasm');
  await expect(selectBackend('wasm', { threads: 2 })).rejects.toThrow(
    /already runs with 1 thread\(s\); 'threads' \(2\) can only be chosen before it first starts/,
  );
  expect(tf.getBackend()).toBe('wasm');
});

/**
 * The SIMD kernel loader: the embedded modules, one instance per tfjs heap,
 * withF32's checks and clean-up.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { LipError } from '../../errors';
import { LIP_KERNELS_SHARED_WASM, LIP_KERNELS_WASM } from './lip_kernels_wasm';
import { assertWritesNothingOnLoad, simdKernels, withF32 } from './simd_kernels';

interface WasmModuleApi {
  Module: {
    new (bytes: Uint8Array): object;
    imports(m: object): Array<{ module: string; name: string; kind: string }>;
    exports(m: object): Array<{ name: string; kind: string }>;
  };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmModuleApi }).WebAssembly;

const bytesOf = (base64: string) => Uint8Array.from(Buffer.from(base64, 'base64'));
const backend = () => tf.backend() as BackendWasm;

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
});

test.each([
  ['lip_kernels.wasm', LIP_KERNELS_WASM],
  ['lip_kernels_shared.wasm', LIP_KERNELS_SHARED_WASM],
])('%s imports only env.memory and exports the kernels and its stack pointer', (_name, base64) => {
  const bytes = bytesOf(base64);
  expect(() => assertWritesNothingOnLoad(bytes)).not.toThrow();
  const module = new wasmApi.Module(bytes);
  expect(wasmApi.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
  expect(wasmApi.Module.exports(module)).toEqual(
    expect.arrayContaining(
      ['groupsort2_forward', 'groupsort2_backward', 'l2pool_forward', 'l2pool_backward']
        .map((name) => ({ name, kind: 'function' }))
        .concat([{ name: '__stack_pointer', kind: 'global' }]),
    ),
  );
});

test('a module with a data segment or a start function is refused (it would write into the tfjs heap)', () => {
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const typeSection = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00]; // one type: () -> ()
  const dataSection = [0x0b, 0x01, 0x00]; // data, 0 segments
  const startSection = [0x08, 0x01, 0x00]; // start: function 0
  expect(() => assertWritesNothingOnLoad(Uint8Array.from([...header, ...typeSection]))).not.toThrow();
  expect(() => assertWritesNothingOnLoad(Uint8Array.from([...header, ...typeSection, ...dataSection]))).toThrow(
    "internal: lip's SIMD kernel module has a data segment, which would overwrite the tfjs heap",
  );
  expect(() => assertWritesNothingOnLoad(Uint8Array.from([...header, ...typeSection, ...startSection]))).toThrow(/has a start function/);
});

test('one instance per tfjs heap, made on first use', () => {
  const first = simdKernels();
  expect(simdKernels(backend())).toBe(first);
  expect(Object.isFrozen(first)).toBe(true);
  expect(typeof first.groupsort2_forward).toBe('function');
});

test('withF32 passes heap offsets, returns new outputs, zeroes scratch and frees it', () => {
  const b = backend();
  const x = tf.tensor1d([4, 3, 1, 2, 7, 5]);
  tf.tensor1d([9, 9, 9]).dispose(); // leaves non-zero bytes where the scratch is likely to go
  const before = b.numDataIds();
  let scratchSeen: number[] = [];
  const [y] = withF32(b, { inputs: [x], outputs: [[6]], scratch: 3 }, (k, p) => {
    const heap = new Float32Array((b as unknown as { wasm: { HEAPF32: Float32Array } }).wasm.HEAPF32.buffer);
    scratchSeen = Array.from(heap.subarray(p.scratch / 4, p.scratch / 4 + 3));
    k.groupsort2_forward(p.inputs[0], p.outputs[0], 3);
  });
  expect(scratchSeen).toEqual([0, 0, 0]);
  expect(b.numDataIds()).toBe(before + 1); // the output only: the scratch is gone
  expect(Array.from(b.typedArrayFromHeap(y))).toEqual([3, 4, 1, 2, 5, 7]);
  b.disposeData(y.dataId);
  x.dispose();
});

test('withF32 refuses non-float32 inputs and frees its outputs when the kernel throws', () => {
  const b = backend();
  const ints = tf.tensor1d([1, 2], 'int32');
  expect(() => withF32(b, { inputs: [ints], outputs: [[2]] }, () => undefined)).toThrow('internal: SIMD kernel input 0 must be float32, got int32');
  const x = tf.tensor1d([1, 2]);
  const before = b.numDataIds();
  expect(() =>
    withF32(b, { inputs: [x], outputs: [[2], [2]], scratch: 4 }, () => {
      throw new Error('kernel failed');
    }),
  ).toThrow('kernel failed');
  expect(b.numDataIds()).toBe(before);
  tf.dispose([ints, x]);
});

test('simdKernels() needs the wasm backend', async () => {
  await tf.setBackend('cpu');
  try {
    expect(() => simdKernels()).toThrow(LipError);
    expect(() => simdKernels()).toThrow("internal: lip's SIMD kernels need the wasm backend, the current one is 'cpu'");
  } finally {
    await tf.setBackend('wasm');
  }
});

/**
 * Loader of lip's wasm SIMD kernels (packages/train/kernels/*.c, built by
 * kernels/build.sh into one module, embedded as base64 in lip_kernels_wasm.ts).
 *
 * The kernels run on the tfjs-backend-wasm heap itself: the module imports
 * its memory as `env.memory`, so a kernel reads tensors where tfjs keeps
 * them and writes into tensors tfjs allocated. Measured on GroupSort2,
 * [512, 28, 28, 16] on one thread: 5.6 ms on the heap against 20.6 ms with
 * the input copied into a memory of our own and the output copied back
 * (composed tfjs ops: 27.7 ms). This is safe because
 * - the module has no data segment and no start function (build.sh fails
 *   otherwise, and `instantiate` checks again), so instantiating it writes
 *   nothing into tfjs's memory;
 * - its shadow stack (locals whose address is taken) is a block malloc'ed
 *   from tfjs's heap once per instance, not the module's default (which
 *   would be tfjs's own static data);
 * - a kernel writes only into outputs and scratch that `withF32` allocated
 *   for it, and runs synchronously on the calling thread (tfjs's pthreads
 *   only run inside tfjs's own kernels).
 * The threaded tfjs binary has a shared memory, which only a module built
 * for shared memory may import: the loader picks the matching variant.
 *
 * One instance per tfjs-backend-wasm memory, made on first use: per thread,
 * as each worker_thread has its own backend.
 *
 * To add a kernel: a .c file in packages/train/kernels exporting its entry
 * points with `__attribute__((export_name("...")))`, run build.sh, call it
 * through `withF32` (pointers are byte offsets into the heap, sizes are i32).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { LipError } from '../../errors';
import { LIP_KERNELS_SHARED_WASM, LIP_KERNELS_WASM } from './lip_kernels_wasm';

/** An exported kernel entry point: byte offsets and sizes in, nothing out. */
export type SimdKernel = (...args: number[]) => void;

/** The module's exports by name (`groupsort2_forward`, ...). */
export type SimdKernels = Readonly<Record<string, SimdKernel>>;

/** Bytes of tfjs heap given to each instance as its shadow stack (build.sh links with `-z stack-size=65536`). */
export const SIMD_STACK_BYTES = 65536;

/** The subset of the WebAssembly API we use (not in the ES2022 lib typings). */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** What we use of tfjs-backend-wasm's Emscripten module. */
interface EmscriptenHeap {
  /** The threaded binary's (imported) memory. */
  wasmMemory?: WasmMemory;
  /** The single-threaded binary's exports, including its memory. */
  asm?: { memory?: WasmMemory };
  _malloc(bytes: number): number;
}

/** The memory of a tfjs-backend-wasm backend. */
function heapOf(backend: BackendWasm): { heap: EmscriptenHeap; memory: WasmMemory } {
  const heap = (backend as unknown as { wasm: EmscriptenHeap }).wasm;
  const memory = heap?.wasmMemory ?? heap?.asm?.memory;
  if (typeof memory?.buffer?.byteLength !== 'number') {
    throw new LipError(
      "lip's SIMD kernels found no WebAssembly memory in this tfjs-backend-wasm (version 4.22 expected); " +
        'set LIP_KERNELS=composed to use the composed kernels',
      1,
    );
  }
  return { heap, memory };
}

/** By tag, not instanceof: the buffer may come from another realm (Jest's vm contexts). */
function isShared(buffer: ArrayBufferLike): boolean {
  return Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]';
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Ids of the sections a module must not have: start (8), data (11), data count (12). */
const FORBIDDEN_SECTIONS = new Map([
  [8, 'a start function'],
  [11, 'a data segment'],
  [12, 'a data segment'],
]);

/** Reads an unsigned LEB128 at `at`: [value, next offset]. */
function readLeb128(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7;
  }
}

/** Throws if the module would write into the memory it imports when instantiated. */
export function assertWritesNothingOnLoad(bytes: Uint8Array): void {
  for (let at = 8; at < bytes.length;) {
    const id = bytes[at];
    const [size, start] = readLeb128(bytes, at + 1);
    const what = FORBIDDEN_SECTIONS.get(id);
    if (what !== undefined) {
      throw new LipError(`internal: lip's SIMD kernel module has ${what}, which would overwrite the tfjs heap`, 1);
    }
    at = start + size;
  }
}

/** Compiled modules of this thread, by variant. */
const modules = new Map<boolean, object>();

function compiled(shared: boolean): object {
  let module = modules.get(shared);
  if (module === undefined) {
    const bytes = decodeBase64(shared ? LIP_KERNELS_SHARED_WASM : LIP_KERNELS_WASM);
    assertWritesNothingOnLoad(bytes);
    module = new wasmApi.Module(bytes);
    modules.set(shared, module);
  }
  return module;
}

/** Instances of this thread, by the tfjs memory they run on. */
const instances = new WeakMap<WasmMemory, SimdKernels>();

function instantiate(heap: EmscriptenHeap, memory: WasmMemory): SimdKernels {
  const instance = new wasmApi.Instance(compiled(isShared(memory.buffer)), { env: { memory } });
  const stackPointer = instance.exports.__stack_pointer as { value: number };
  const stackBase = heap._malloc(SIMD_STACK_BYTES) >>> 0;
  if (stackBase === 0) throw new LipError(`out of wasm memory for the SIMD kernels' ${SIMD_STACK_BYTES}-byte stack`, 1);
  // The stack grows down from its 16-byte-aligned top.
  stackPointer.value = (stackBase + SIMD_STACK_BYTES) & ~15;
  const kernels: Record<string, SimdKernel> = {};
  for (const [name, value] of Object.entries(instance.exports)) {
    if (typeof value === 'function') kernels[name] = value as SimdKernel;
  }
  return Object.freeze(kernels);
}

/** The current backend when it is tfjs-backend-wasm. */
function wasmBackend(): BackendWasm {
  if (tf.getBackend() !== 'wasm') {
    throw new LipError(`internal: lip's SIMD kernels need the wasm backend, the current one is '${tf.getBackend()}'`, 1);
  }
  return tf.backend() as BackendWasm;
}

/** This thread's kernels, instantiated on the heap of `backend` (default: the current wasm backend) on first use. */
export function simdKernels(backend: BackendWasm = wasmBackend()): SimdKernels {
  const { heap, memory } = heapOf(backend);
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    kernels = instantiate(heap, memory);
    instances.set(memory, kernels);
  }
  return kernels;
}

/** What a kernel call reads and writes. */
export interface F32Call {
  /** float32 tensors of the backend: passed in place, never copied. */
  inputs: readonly TensorInfo[];
  /** Shapes of the float32 tensors the kernel writes (allocated, not cleared). */
  outputs: ReadonlyArray<readonly number[]>;
  /** float32 words of zeroed scratch for the kernel's own use, freed after the call (default 0). */
  scratch?: number;
}

/** Heap byte offsets handed to the kernel. */
export interface F32Pointers {
  inputs: number[];
  outputs: number[];
  /** 0 when no scratch was asked for. */
  scratch: number;
}

function heapOffset(backend: BackendWasm, info: TensorInfo): number {
  return backend.dataIdMap.get(info.dataId)!.memoryOffset >>> 0;
}

/**
 * Runs `run(kernels, pointers)` on the heap of `backend`: the inputs where
 * they are, new output tensors, and scratch. Returns the outputs (the
 * caller owns them; they are disposed if `run` throws). Allocating may grow
 * the heap: take views of it (`backend.wasm.HEAPF32`) only inside `run`.
 */
export function withF32(backend: BackendWasm, call: F32Call, run: (kernels: SimdKernels, pointers: F32Pointers) => void): TensorInfo[] {
  for (const [i, info] of call.inputs.entries()) {
    if (info.dtype !== 'float32') {
      throw new LipError(`internal: SIMD kernel input ${i} must be float32, got ${info.dtype}`, 1);
    }
  }
  const kernels = simdKernels(backend);
  const outputs = call.outputs.map((shape) => backend.makeOutput([...shape], 'float32'));
  const scratchWords = call.scratch ?? 0;
  const scratch = scratchWords > 0 ? backend.makeOutput([scratchWords], 'float32') : null;
  try {
    const scratchOffset = scratch === null ? 0 : heapOffset(backend, scratch);
    if (scratch !== null) new Float32Array(heapOf(backend).memory.buffer, scratchOffset, scratchWords).fill(0);
    run(kernels, {
      inputs: call.inputs.map((info) => heapOffset(backend, info)),
      outputs: outputs.map((info) => heapOffset(backend, info)),
      scratch: scratchOffset,
    });
  } catch (err) {
    for (const info of outputs) backend.disposeData(info.dataId);
    throw err;
  } finally {
    if (scratch !== null) backend.disposeData(scratch.dataId);
  }
  return outputs;
}

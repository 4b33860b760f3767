/**
 * Helpers for kernels that run on tfjs-backend-wasm and are composed of the
 * backend's own kernels.
 *
 * A composed kernel calls the stock kernel functions straight from the kernel
 * registry (`getKernel(name, 'wasm').kernelFunc`) instead of going back
 * through the engine (`tf.conv2d` inside a kernel): no tape records, no
 * engine-tracked tensors, no nested scopes. The price is manual memory
 * management: every intermediate `TensorInfo` is released with
 * `backend.disposeData` (the tests check that the backend's data count stays
 * flat).
 */
import { getKernel, NamedAttrMap, NamedTensorInfoMap, TensorInfo, util } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { LipError } from '../errors';

/** Explicit NHWC padding as tfjs spells it: `[[0, 0], [top, bottom], [left, right], [0, 0]]`. */
export type ExplicitPads = [[number, number], [number, number], [number, number], [number, number]];

export function explicitPads(top: number, bottom: number, left: number, right: number): ExplicitPads {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/**
 * Runs the wasm backend's registered kernel `name` directly. `kernelFunc` is
 * looked up at call time, so a kernel we replaced ourselves must not be
 * called through here (use the saved original instead).
 */
export function runWasmKernel(backend: BackendWasm, name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  const config = getKernel(name, 'wasm');
  if (config == null) {
    throw new LipError(`tfjs-backend-wasm has no '${name}' kernel, which the lip gradient kernels need`, 1);
  }
  return config.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

/** The same data seen with another shape (no copy, no reference count: never dispose a view). */
export function view(info: TensorInfo, shape: number[]): TensorInfo {
  if (util.sizeFromShape(shape) !== util.sizeFromShape(info.shape)) {
    throw new LipError(`internal: cannot view [${info.shape.join(', ')}] as [${shape.join(', ')}]`, 1);
  }
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** A float32 tensor on the wasm heap holding a copy of `values`. */
export function makeFloat32(backend: BackendWasm, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeOutput(shape, 'float32', undefined, values);
}

/**
 * A copy of a tensor's float32 values. The heap view returned by
 * `typedArrayFromHeap` goes stale when the wasm memory grows, so copy before
 * allocating anything else.
 */
export function readFloat32(backend: BackendWasm, info: TensorInfo): Float32Array {
  return (backend.typedArrayFromHeap(info) as Float32Array).slice();
}

/** Releases intermediate results. */
export function disposeAll(backend: BackendWasm, infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * Leak checks for tests: engine tensors, and the backend's data buffers
 * (which also catches intermediate results a composed kernel forgot to free:
 * those are not engine tensors).
 */
import * as tf from '@tensorflow/tfjs-core';
import { LipError } from '../errors';

/** Live tensors known to the engine. */
export function tensorCount(): number {
  return tf.memory().numTensors;
}

/** Live data buffers of the active backend. */
function dataCount(): number {
  return tf.engine().backend.numDataIds();
}

/** Tensors found in `value` (a tensor, or arrays / plain objects of them), which `fn` is allowed to return. */
function countTensors(value: unknown, seen = new Set<unknown>()): number {
  if (value == null || typeof value !== 'object' || seen.has(value)) return 0;
  seen.add(value);
  if (value instanceof tf.Tensor) return value.isDisposed ? 0 : 1;
  const items = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return items.reduce((n: number, item) => n + countTensors(item, seen), 0);
}

interface Snapshot {
  tensors: number;
  data: number;
}

function check(before: Snapshot, result: unknown): void {
  const returned = countTensors(result);
  const leakedTensors = tensorCount() - before.tensors - returned;
  const leakedData = dataCount() - before.data - returned;
  if (leakedTensors > 0 || leakedData > 0) {
    throw new LipError(
      `withNoLeak: ${leakedTensors} tensor(s) and ${leakedData} backend buffer(s) leaked ` + `(besides the ${returned} tensor(s) returned)`,
      1,
    );
  }
}

/**
 * Runs `fn` and throws a `LipError` if it leaves more tensors (or backend
 * buffers) alive than the tensors it returns. Works with async `fn` too.
 */
export function withNoLeak<T>(fn: () => Promise<T>): Promise<T>;
export function withNoLeak<T>(fn: () => T): T;
export function withNoLeak<T>(fn: () => T | Promise<T>): T | Promise<T> {
  const before: Snapshot = { tensors: tensorCount(), data: dataCount() };
  const result = fn();
  if (result instanceof Promise) {
    return result.then((value) => {
      check(before, value);
      return value;
    });
  }
  check(before, result);
  return result;
}

/**
 * Entry point of the thread that computes a Lipschitz bound while the main
 * thread runs the model (`lip verify`; ./background_bound.ts starts it).
 *
 * Its task, a `BoundWorkerInput` (the model as the main thread read and
 * folded it, structured-cloned, and the bound options), comes as workerData,
 * or, for a thread started before the model was read, as its first message;
 * such a thread bounds a small model of the same kind while it waits
 * (./bound/warmup.ts), so that the real bound runs optimized code.
 * Posts one `BoundWorkerOutput`: the bound, or the error `lipschitzBound`
 * threw, after setting the task's shared `done` flag.
 */
import { parentPort, workerData } from 'worker_threads';
import { LipError } from '@lip/core/errors';
import type { BoundOptions } from './bound/bounder';
import { LipschitzBound, lipschitzBound } from './bound/lipschitz';
import type { OnnxModel } from './onnx/read';
import { warmUpBound } from './bound/warmup';

export interface BoundWorkerInput {
  model: OnnxModel;
  opts: BoundOptions;
  /** Set to 1 (shared memory) once the answer is computed, so the main thread can see it without waiting for the message. */
  done?: Int32Array;
}

/** An error as it crosses to the main thread: `lip` marks a LipError (its class `name` and `exitCode` are kept). */
export interface BoundWorkerError {
  name: string;
  message: string;
  exitCode: number;
  lip: boolean;
}

export type BoundWorkerOutput = { bound: LipschitzBound } | { error: BoundWorkerError };

function run(input: BoundWorkerInput): BoundWorkerOutput {
  try {
    return { bound: lipschitzBound(input.model, input.opts) };
  } catch (err) {
    const e = err as Error;
    return {
      error: {
        name: e?.name ?? 'Error',
        message: String(e?.message ?? err),
        exitCode: err instanceof LipError ? err.exitCode : 1,
        lip: err instanceof LipError,
      },
    };
  }
}

function answer(input: BoundWorkerInput): void {
  const output = run(input);
  if (input.done) Atomics.store(input.done, 0, 1);
  parentPort?.postMessage(output);
}

const task = workerData as BoundWorkerInput | null;
if (task) {
  answer(task);
} else {
  // A thread started before its task warms the bound up while it waits (./bound/warmup.ts).
  let given = false;
  parentPort?.once('message', (input: BoundWorkerInput) => {
    given = true;
    answer(input);
  });
  warmUpBound(() => given);
}

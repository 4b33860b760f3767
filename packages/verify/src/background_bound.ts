/**
 * A Lipschitz bound computed on a worker thread (./bound_worker.ts) while
 * the main thread reads the data and runs the model: `lip verify` then costs
 * about the longer of the two instead of their sum.
 *
 * `result()` gives exactly what `lipschitzBound(model, opts)` gives in
 * process: the same bound (the worker runs the same code on the same folded
 * model), or an error of the same class with the same message for the
 * bound's own errors (LipError: ModelError, ModelTooLargeError, ...). Any
 * other outcome (the worker script is not built, the thread cannot start,
 * dies, or hits an internal error) is not reported as such: `result()` then
 * computes the bound in process, which succeeds or throws as it always did.
 */
import { Worker } from 'worker_threads';
import { DataError, InvalidArgumentError, LipError, ModelError, ModelTooLargeError } from '@lip/core';
import type { BoundOptions } from './bound/bounder';
import { LipschitzBound, lipschitzBound } from './bound/lipschitz';
import { BOUND_THREAD_RESOURCE_LIMITS, StartedBoundThread, boundWorkerScript, startBoundThread, takePrestartedBoundThread } from './bound_thread';
import type { BoundWorkerError, BoundWorkerInput, BoundWorkerOutput } from './bound_worker';
import type { OnnxModel } from './onnx/read';

/** The bound's own error classes, rebuilt on the main thread by name. */
const LIP_ERRORS: Readonly<Record<string, new (message: string, exitCode?: number) => LipError>> = {
  LipError,
  InvalidArgumentError,
  DataError,
  ModelError,
  ModelTooLargeError,
};

export interface BackgroundBound {
  /** Resolves once the worker has answered or stopped (never rejects). */
  readonly settled: Promise<void>;
  /**
   * True once the worker has computed its answer (or stopped, or was never
   * started), even while the main thread has not yet taken the message: a
   * synchronous look, for callers deciding whether the thread still needs a core.
   */
  finished(): boolean;
  /**
   * After `settled`: the bound, or throws what `lipschitzBound(model, opts)`
   * throws (computed in process when the worker gave no usable answer).
   */
  result(): LipschitzBound;
  /** Stops the worker when its answer is no longer needed. */
  cancel(): void;
}

export { boundWorkerScript };

/**
 * A bound thread started before its task is known, so that its start-up
 * (a Node environment, the bound's modules) overlaps the caller's reading of
 * the model; `backgroundBound(..., thread)` gives it its task. One that gets
 * no task must be ended with `end()`.
 */
export class SpareBoundThread {
  private constructor(private readonly thread: StartedBoundThread) {}

  /** False once the thread has stopped (then a task given to it is computed in process). */
  get alive(): boolean {
    return this.thread.alive;
  }

  get worker(): Worker {
    return this.thread.worker;
  }

  /**
   * Starts one, or adopts the one `prestartBoundThread()` (./bound_thread.ts)
   * started on the same script; null when it cannot start (no built script, no threads).
   */
  static start(script: string | null = boundWorkerScript()): SpareBoundThread | null {
    const thread = takePrestartedBoundThread(script) ?? startBoundThread(script);
    return thread === null ? null : new SpareBoundThread(thread);
  }

  /** Ends a thread that got no task. */
  end(): void {
    void this.worker.terminate();
  }
}

/**
 * Starts `lipschitzBound(model, opts)` on a worker thread (see the module
 * doc): on `thread` when given, else on a new one. `script` is for tests.
 */
export function backgroundBound(
  model: OnnxModel,
  opts: BoundOptions,
  script: string | null = boundWorkerScript(),
  thread: SpareBoundThread | null = null,
): BackgroundBound {
  let answer: BoundWorkerOutput | null = null;
  let worker: Worker | null = null;
  let settle: () => void = () => undefined;
  let isSettled = false;
  const settled = new Promise<void>((resolve) => {
    settle = () => {
      isSettled = true;
      resolve();
    };
  });
  const done = typeof SharedArrayBuffer === 'function' ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
  try {
    const input: BoundWorkerInput = { model, opts, done };
    if (thread !== null) {
      // A spare thread that already stopped gives no answer.
      worker = thread.alive ? thread.worker : null;
      worker?.postMessage(input);
    } else if (script !== null) {
      // Not unref'd: the caller awaits `settled`, and the thread ends after its one answer (or at `cancel`).
      worker = new Worker(script, { workerData: input, resourceLimits: BOUND_THREAD_RESOURCE_LIMITS });
    }
    if (worker !== null) {
      worker.once('message', (m: BoundWorkerOutput) => {
        answer = m;
        settle();
        // Its one task is done: the thread's teardown then overlaps the model's run instead of the process's exit.
        void worker?.terminate();
      });
      worker.once('error', () => settle());
      worker.once('exit', () => settle());
    }
  } catch {
    void worker?.terminate();
    worker = null;
  }
  if (worker === null) {
    thread?.end();
    settle();
  }
  let inProcess: { bound: LipschitzBound } | { error: unknown } | null = null;
  return {
    settled,
    finished: () => isSettled || (done !== undefined && Atomics.load(done, 0) === 1),
    result: () => {
      const a = answer as BoundWorkerOutput | null;
      if (a && 'bound' in a) return a.bound;
      if (a && a.error.lip && a.error.name in LIP_ERRORS) throw rebuild(a.error);
      // No usable answer: today's path, in process (computed once).
      if (inProcess === null) {
        try {
          inProcess = { bound: lipschitzBound(model, opts) };
        } catch (err) {
          inProcess = { error: err };
        }
      }
      if ('error' in inProcess) throw inProcess.error;
      return inProcess.bound;
    },
    cancel: () => {
      void worker?.terminate();
      settle();
    },
  };
}

function rebuild(e: BoundWorkerError): LipError {
  return new LIP_ERRORS[e.name](e.message, e.exitCode);
}

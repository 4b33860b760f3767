/**
 * Entry point of the thread that computes a Lipschitz bound while the main
 * thread runs the model (`lip verify`; ./background_bound.ts starts it).
 *
 * Its task, a `BoundWorkerInput` (the model as the main thread read and
 * folded it, structured-cloned, and the bound options), comes as workerData,
 * or, for a thread started before the model was read, as its first message.
 * Posts one `BoundWorkerOutput`: the bound, or the error `lipschitzBound`
 * threw.
 *
 * A thread started before the model was read may instead first get a
 * `BoundWorkerFold`: it reads and folds the model itself (what the main
 * thread would do, while the main thread reads the data), and posts a
 * `BoundWorkerFolded`. When the folded graph fixes its input shape (or the
 * task gives one), it then bounds the model for that shape at once and posts
 * the `BoundWorkerOutput`. Either way it then answers one `BoundWorkerInput`
 * (after the started bound's answer).
 */
import { parentPort, workerData } from 'worker_threads';
import { LipError } from '@lip/core/errors';
import type { BoundOptions } from './bound/bounder';
import { LipschitzBound, lipschitzBound } from './bound/lipschitz';
import { HashedModel, OnnxModel, ReadOptions, fixedInputShape, readOnnxModel, readOnnxModelHashed } from './onnx/read';

export interface BoundWorkerInput {
  model: OnnxModel;
  opts: BoundOptions;
}

/** Read and fold a model (`readOnnxModelHashed` when `hashed`, else `readOnnxModel`), then bound it where its input shape is known. */
export interface BoundWorkerFold {
  fold: { model: string | Uint8Array; readOptions: ReadOptions; hashed: boolean };
}

/**
 * The folded model (sha256 '' when not hashed) and the input shape its bound
 * was started for (null: none started, a `BoundWorkerInput` is awaited), or
 * the error reading it threw.
 */
export type BoundWorkerFolded = { folded: HashedModel; started: number[] | null } | { error: BoundWorkerError };

/** An error as it crosses to the main thread: `lip` marks a LipError (its class `name` and `exitCode` are kept). */
export interface BoundWorkerError {
  name: string;
  message: string;
  exitCode: number;
  lip: boolean;
}

export type BoundWorkerOutput = { bound: LipschitzBound } | { error: BoundWorkerError };

function crossing(err: unknown): BoundWorkerError {
  const e = err as Error;
  return {
    name: e?.name ?? 'Error',
    message: String(e?.message ?? err),
    exitCode: err instanceof LipError ? err.exitCode : 1,
    lip: err instanceof LipError,
  };
}

function run(input: BoundWorkerInput): BoundWorkerOutput {
  try {
    return { bound: lipschitzBound(input.model, input.opts) };
  } catch (err) {
    return { error: crossing(err) };
  }
}

/** The per-sample input shape a bound can start with before the data are read: the one given, else the graph's fixed one. */
function earlyInputShape(model: OnnxModel, readOptions: ReadOptions): number[] | null {
  return readOptions.inputShape ? [...readOptions.inputShape] : fixedInputShape(model);
}

function fold(task: BoundWorkerFold['fold']): void {
  let folded: HashedModel;
  try {
    folded = task.hashed ? readOnnxModelHashed(task.model, task.readOptions) : { model: readOnnxModel(task.model, task.readOptions), sha256: '' };
  } catch (err) {
    parentPort?.postMessage({ error: crossing(err) } satisfies BoundWorkerFolded);
    return;
  }
  const started = earlyInputShape(folded.model, task.readOptions);
  parentPort?.postMessage({ folded, started } satisfies BoundWorkerFolded);
  // A task for other options may still come (answered after the started one).
  parentPort?.once('message', (m: BoundWorkerInput) => parentPort?.postMessage(run(m)));
  if (started) parentPort?.postMessage(run({ model: folded.model, opts: { inputShape: started } }));
}

const task = workerData as BoundWorkerInput | null;
if (task) parentPort?.postMessage(run(task));
else parentPort?.once('message', (m: BoundWorkerInput | BoundWorkerFold) => ('fold' in m ? fold(m.fold) : parentPort?.postMessage(run(m))));

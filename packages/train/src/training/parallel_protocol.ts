/**
 * Messages between the trainer and its data-parallel workers
 * (worker_pool.ts on the main thread, gradient_worker.ts in each worker).
 *
 * Bulk data goes through SharedArrayBuffers, never through messages:
 * - `weights`: every model weight (trainable and power-iteration vectors),
 *   written by the main thread before a step, read by all workers;
 * - `input` / `labels`: this worker's rows of the batch, gathered by the main
 *   thread straight from the dataset;
 * - `grads`: this worker's gradients, in trainable-weight order.
 */
import type { BackendPreference } from '../backend';
import type { BatchStatistics, LossOptions } from '../losses';

/** Where one weight sits in a Float32Array of a shared buffer. */
export interface Slot {
  offset: number;
  size: number;
  shape: number[];
}

/** `workerData` of a gradient worker. */
export interface WorkerInit {
  /** This worker's index in the pool, from 0. */
  index: number;
  /** Test hook (`$LIP_TEST_STUCK_WORKER`): block for good when this request (from 1) arrives; null: never. */
  stuckAtRequest: number | null;
  backend: BackendPreference;
  /** `model.toJSON(null, false)` */
  modelTopology: object;
  loss: { name: string; options: LossOptions };
  inputShape: [number, number, number];
  numClasses: number;
  /** Rows per forward/backward chunk. */
  chunkRows: number;
  weights: SharedArrayBuffer;
  /** Slots of `model.weights` in `weights`. */
  weightSlots: Slot[];
  grads: SharedArrayBuffer;
  /** Slots of `model.trainableWeights` in `grads`. */
  gradSlots: Slot[];
  input: SharedArrayBuffer;
  labels: SharedArrayBuffer;
}

/**
 * Main -> worker. `syncWeights`: read the weights buffer first (it changed).
 * `lossOptions`: rebuild the loss with these first (a scheduler changed a parameter).
 */
export type WorkerRequest =
  | { type: 'step'; rows: number; stats: BatchStatistics; syncWeights: boolean; lossOptions?: LossOptions }
  | { type: 'evaluate'; rows: number; syncWeights: boolean; lossOptions?: LossOptions };

/** Worker -> main. `metrics`: a step's shares of [loss, acc, KR, mean |logit|], an evaluation batch's [loss, acc, KR]. */
export type WorkerReply = { type: 'ready' } | { type: 'done'; metrics: number[]; tensors: number } | { type: 'error'; message: string; stack?: string };

/**
 * Messages between `AttackPool` (parallel.ts, main thread) and its workers
 * (attack_worker.ts). Images go in the messages (a batch is small); the only
 * shared memory is the abort-early barrier of cw.
 */
import type { AttackProgress, Nchw } from './common';
import type { ShardSpec } from './shard';

/** Indices into the barrier's Int32Array (`AttackWorkerInit.control`). */
export const BARRIER_ARRIVED = 0;
export const BARRIER_GENERATION = 1;
/** Non-zero once any worker failed: waiting workers stop instead of waiting forever. */
export const BARRIER_FAILED = 2;
/**
 * From here, one flag per worker (by index): 1 while it waits at the barrier,
 * so the pool's watchdog knows its silence is its peers' doing, not its own.
 */
export const BARRIER_WAITING = 4;

/** Length of the barrier's Int32Array for `workers` workers. */
export function barrierInts(workers: number): number {
  return BARRIER_WAITING + workers;
}

/** `workerData` of an attack worker. */
export interface AttackWorkerInit {
  /** This worker's index in the pool, from 0 (its party index in every batch). */
  index: number;
  /**
   * Test hook (`$LIP_TEST_STUCK_WORKER`): at this request (from 1) block for
   * good, at its start or, for cw, at the first barrier once every other
   * party waits there (after one last progress message); null: never.
   */
  stuckAtRequest: number | null;
  /** The ONNX model, translated in the worker. */
  modelBytes: Uint8Array;
  /** For messages: the model's path. */
  source: string;
  /** tfjs backend of the worker: the main thread's. */
  backend: 'wasm' | 'cpu';
  /** Whether lip's wasm kernels are installed on the main thread (so the worker computes with the same kernels). */
  wasmKernels: boolean;
  /** Int32Array of `barrierInts(workers)`: arrived count, generation, failed flag, waiting flags. */
  control: SharedArrayBuffer;
  /** Float64Array of 2 x (most images per batch): per-image cw losses at a check, double-buffered. */
  losses: SharedArrayBuffer;
}

/** One worker's rows of a batch. */
export interface AttackRequest {
  type: 'attack';
  spec: ShardSpec;
  x: Float32Array;
  shape: Nchw;
  labels: number[];
  /** pgd: the rows' starting point. */
  start?: Float32Array;
  /** Index of the worker's first row in the batch. */
  offset: number;
  /** Images in the whole batch. */
  batchRows: number;
  /** Workers sharing the batch (the barrier's party count). */
  parties: number;
}

export type AttackWorkerReply =
  | { type: 'ready' }
  | { type: 'progress'; progress: AttackProgress }
  | { type: 'done'; adv: Float32Array; found: boolean[]; gradientSteps?: number }
  | { type: 'error'; message: string; stack?: string };

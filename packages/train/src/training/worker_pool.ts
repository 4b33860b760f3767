/**
 * Data-parallel training over `worker_threads` (main-thread side).
 *
 * Each worker has its own tfjs backend and model replica. Per step the main
 * thread updates the power-iteration vectors (`updateConstraints()`),
 * publishes all weights in one SharedArrayBuffer, gathers each worker's rows
 * of the batch into that worker's input buffer, and computes the batch's
 * class counts. Each worker returns the gradients of its rows' exact share of
 * the full-batch loss (losses/shares.ts); their sum, taken in worker order
 * (deterministic), is the full-batch gradient, and the caller applies one
 * optimizer step with it. Evaluation batches are spread over the workers
 * whole (same per-batch statistics as in-process).
 *
 * A watchdog (`@lip/core` worker_watchdog.ts) bounds every wait for a
 * worker: its start (backend and model) and each request, scaled to the
 * request's rows. A worker silent for longer is reported by name, stopped,
 * and the step fails with WorkerStuckError (exit code 1); training saves
 * checkpoints only after complete epochs, so the last one stays as it was.
 *
 * Workers run the compiled dist/training/gradient_worker.js: under ts
 * sources (Jest) the script is found in the package's dist folder, so build
 * first (`npx tsc -b`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { SilenceTimer, WorkerStuckError, silenceBoundHint, stuckWorkerTestHook, terminateWithin, workerSilenceBound } from '@lip/core';
import { BackendPreference } from '../backend';
import { sliceBatch } from '../data';
import { LipError } from '../errors';
import { LipschitzSequential } from '../layers';
import { BatchStatistics, LossOptions } from '../losses';
import type { Slot, WorkerInit, WorkerReply, WorkerRequest } from './parallel_protocol';
import { STEP_METRICS } from './shard_gradients';

/** The compiled worker script. */
export function gradientWorkerScript(): string {
  const script = __filename.endsWith('.ts') ? path.resolve(__dirname, '../../dist/training/gradient_worker.js') : path.join(__dirname, 'gradient_worker.js');
  if (!fs.existsSync(script)) {
    throw new LipError(`the data-parallel worker script ${script} is missing: build first (npx tsc -b)`, 1);
  }
  return script;
}

/** Slots of consecutive tensors of these shapes in one Float32Array. */
function layout(shapes: number[][]): { slots: Slot[]; total: number } {
  let offset = 0;
  const slots = shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const slot = { offset, size, shape };
    offset += size;
    return slot;
  });
  return { slots, total: offset };
}

/** Options of `WorkerPool.start`. */
export interface WorkerPoolOptions {
  workers: number;
  backend: BackendPreference;
  model: LipschitzSequential;
  loss: { name: string; options: LossOptions };
  inputShape: [number, number, number];
  numClasses: number;
  /** Rows per forward/backward chunk in a worker. */
  chunkRows: number;
  /** Most rows a worker is ever given (its share of a batch, or an evaluation batch). */
  maxRows: number;
}

/** A dataset as the pool reads it. */
export interface PoolDataset {
  images: Float32Array;
  labels: Uint8Array;
}

interface Member {
  worker: Worker;
  /** Runs while the worker owes a reply (see the module comment). */
  watchdog: SilenceTimer;
  /** What the worker owes, for messages: "training step (16 rows)". */
  awaiting: string;
  input: Float32Array;
  labels: Uint8Array;
  grads: Float32Array;
  weightsStale: boolean;
  /** Loss options to send with the next request (a scheduler changed them), or null. */
  lossOptions: LossOptions | null;
  pending: { resolve: (r: { metrics: number[]; tensors: number }) => void; reject: (e: Error) => void } | null;
  failure: Error | null;
}

/** What one data-parallel step returns. */
export interface PoolStep {
  /** Summed gradients, in trainable-weight order (the caller owns them). */
  grads: tf.Tensor[];
  /** [loss, acc, KR, mean |logit|] of the batch. */
  metrics: number[];
}

export class WorkerPool {
  /** Live tensors in each worker after its last request. */
  readonly workerTensors: number[];
  private readonly weights: Float32Array;
  private constructor(
    private readonly members: Member[],
    weights: SharedArrayBuffer,
    private readonly weightSlots: Slot[],
    private readonly gradSlots: Slot[],
    private readonly rowSize: number,
  ) {
    this.weights = new Float32Array(weights);
    this.workerTensors = members.map(() => 0);
  }

  get size(): number {
    return this.members.length;
  }

  /** Starts `opts.workers` workers and waits until each has built its model. */
  static async start(opts: WorkerPoolOptions): Promise<WorkerPool> {
    const script = gradientWorkerScript();
    const [h, w, c] = opts.inputShape;
    const rowSize = h * w * c;
    const weightLayout = layout(opts.model.weights.map((v) => v.shape as number[]));
    const gradLayout = layout(opts.model.trainableWeights.map((v) => v.shape as number[]));
    const weights = new SharedArrayBuffer(4 * weightLayout.total);
    const members: Member[] = [];
    const ready: Promise<void>[] = [];
    const stuckHook = stuckWorkerTestHook();
    for (let i = 0; i < opts.workers; i++) {
      const init: WorkerInit = {
        index: i,
        stuckAtRequest: stuckHook?.worker === i ? stuckHook.request : null,
        backend: opts.backend,
        modelTopology: opts.model.toJSON(null, false) as object,
        loss: opts.loss,
        inputShape: opts.inputShape,
        numClasses: opts.numClasses,
        chunkRows: opts.chunkRows,
        weights,
        weightSlots: weightLayout.slots,
        grads: new SharedArrayBuffer(4 * gradLayout.total),
        gradSlots: gradLayout.slots,
        input: new SharedArrayBuffer(4 * opts.maxRows * rowSize),
        labels: new SharedArrayBuffer(opts.maxRows),
      };
      const worker = new Worker(script, { workerData: init });
      const name = `data-parallel worker ${i} of ${opts.workers}`;
      const member: Member = {
        worker,
        watchdog: new SilenceTimer((boundMs) => {
          fail(
            new WorkerStuckError(
              `${name} stopped answering: no reply to its ${member.awaiting} within ${silenceBoundHint(boundMs)}. ` +
                "Training stops (the last complete epoch's checkpoint is kept)",
            ),
          );
          void terminateWithin(worker);
        }),
        awaiting: 'start (backend and model)',
        input: new Float32Array(init.input),
        labels: new Uint8Array(init.labels),
        grads: new Float32Array(init.grads),
        weightsStale: true,
        lossOptions: null,
        pending: null,
        failure: null,
      };
      members.push(member);
      ready.push(
        new Promise<void>((resolve, reject) => {
          member.pending = { resolve: () => resolve(), reject };
        }),
      );
      member.watchdog.start(workerSilenceBound(0, opts.workers));
      const fail = (err: Error): void => {
        member.watchdog.stop();
        if (member.failure === null) member.failure = err;
        const pending = member.pending;
        member.pending = null;
        pending?.reject(err);
      };
      worker.on('message', (message: WorkerReply) => {
        if (message.type === 'error') {
          fail(new LipError(`data-parallel worker ${i}: ${message.message}`, 1));
          return;
        }
        member.watchdog.stop();
        const pending = member.pending;
        member.pending = null;
        pending?.resolve(message.type === 'done' ? message : { metrics: new Array<number>(STEP_METRICS).fill(0), tensors: 0 });
      });
      worker.on('error', (err) => fail(new LipError(`data-parallel worker ${i} failed: ${err.message}`, 1)));
      worker.on('exit', (code) => {
        if (member.pending !== null) fail(new LipError(`data-parallel worker ${i} exited (code ${code})`, 1));
      });
    }
    const pool = new WorkerPool(members, weights, weightLayout.slots, gradLayout.slots, rowSize);
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.dispose();
      throw err;
    }
    return pool;
  }

  /** Publishes the model's current weights (all of them) to the workers. */
  publishWeights(model: LipschitzSequential): void {
    model.weights.forEach((w, i) => this.weights.set(w.read().dataSync() as Float32Array, this.weightSlots[i].offset));
    for (const m of this.members) m.weightsStale = true;
  }

  /** Every worker rebuilds its loss with `options` before its next request (a loss parameter changed). */
  setLossOptions(options: LossOptions): void {
    for (const m of this.members) m.lossOptions = { ...options };
  }

  private request(i: number, message: WorkerRequest): Promise<{ metrics: number[]; tensors: number }> {
    const member = this.members[i];
    if (member.failure !== null) return Promise.reject(member.failure);
    member.weightsStale = false;
    if (member.lossOptions !== null) message = { ...message, lossOptions: member.lossOptions };
    member.lossOptions = null;
    return new Promise((resolve, reject) => {
      member.pending = { resolve, reject };
      member.awaiting = `${message.type === 'step' ? 'training step' : 'evaluation batch'} (${message.rows} rows)`;
      member.watchdog.start(workerSilenceBound(message.rows, this.members.length));
      member.worker.postMessage(message);
    }).then((r) => {
      this.workerTensors[i] = (r as { tensors: number }).tensors;
      return r as { metrics: number[]; tensors: number };
    });
  }

  /**
   * One step on the batch `indices` of `data`: rows split evenly over the
   * workers, gradients summed in worker order. Publish the weights first.
   * `prepareRows(images, rows, firstRow)` edits each worker's gathered rows
   * in place (augmentation) before the worker reads them; `firstRow` is the
   * rows' offset in the batch.
   */
  async step(
    data: PoolDataset,
    indices: Uint32Array,
    stats: BatchStatistics,
    prepareRows?: (images: Float32Array, rows: number, firstRow: number) => void,
  ): Promise<PoolStep> {
    const n = this.members.length;
    const m = indices.length;
    const runs: Array<Promise<{ metrics: number[] }> | null> = this.members.map((member, i) => {
      const start = Math.floor((i * m) / n);
      const end = Math.floor(((i + 1) * m) / n);
      if (end === start) return null;
      sliceBatch(data.images, data.labels, indices.subarray(start, end), { images: member.input, labels: member.labels });
      prepareRows?.(member.input, end - start, start);
      return this.request(i, { type: 'step', rows: end - start, stats, syncWeights: member.weightsStale });
    });
    const results = await Promise.all(runs);
    const metrics = new Array<number>(STEP_METRICS).fill(0);
    const sums = this.gradSlots.map((s) => new Float32Array(s.size));
    results.forEach((r, i) => {
      if (r === null) return;
      for (let k = 0; k < STEP_METRICS; k++) metrics[k] += r.metrics[k];
      const g = this.members[i].grads;
      this.gradSlots.forEach((s, j) => {
        const sum = sums[j];
        for (let e = 0; e < s.size; e++) sum[e] += g[s.offset + e];
      });
    });
    return { grads: sums.map((s, j) => tf.tensor(s, this.gradSlots[j].shape)), metrics };
  }

  /**
   * [loss, acc, KR] of consecutive batches of `data`, each batch evaluated
   * whole by one worker, `size` batches at a time; the results come back in
   * batch order. Stops early (returning null) when `aborted()` turns true.
   */
  async evaluate(
    data: PoolDataset,
    batchSize: number,
    aborted: () => boolean,
    onBatch: (rows: number, metrics: [number, number, number]) => void,
  ): Promise<boolean> {
    const total = data.labels.length;
    for (let first = 0; first < total; first += batchSize * this.size) {
      if (aborted()) return false;
      const runs: Array<Promise<{ metrics: number[] }>> = [];
      const sizes: number[] = [];
      for (let i = 0; i < this.size && first + i * batchSize < total; i++) {
        const start = first + i * batchSize;
        const end = Math.min(start + batchSize, total);
        const member = this.members[i];
        member.input.set(data.images.subarray(start * this.rowSize, end * this.rowSize));
        member.labels.set(data.labels.subarray(start, end));
        sizes.push(end - start);
        runs.push(this.request(i, { type: 'evaluate', rows: end - start, syncWeights: member.weightsStale }));
      }
      const results = await Promise.all(runs);
      results.forEach((r, i) => onBatch(sizes[i], [r.metrics[0], r.metrics[1], r.metrics[2]]));
    }
    return true;
  }

  /** Stops the workers (without waiting for good on one that cannot be stopped). */
  async dispose(): Promise<void> {
    for (const m of this.members) m.watchdog.stop();
    await Promise.all(this.members.map((m) => terminateWithin(m.worker)));
  }
}

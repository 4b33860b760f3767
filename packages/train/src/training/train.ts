import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../backend';
import { batchIndices, Dataset, loadDataset, mulberry32, randomPermutation, SampleBatch, sliceBatch } from '../data';
import { assertArg, InvalidArgumentError } from '../errors';
import { LipschitzSequential } from '../layers';
import { batchStatistics, LossFunction, makeLoss, makeShareLoss, ShareLossFunction } from '../losses';
import { accuracy, krMulticlass } from '../metrics';
import { buildModel } from '../models';
import { EpochRecord, hasCheckpoint, loadCheckpoint, loadOptimizer, readTrainState, saveCheckpoint, TrainState } from './checkpoint';
import { recoverCommit } from './commit';
import { defaultWorkers, learningRateAt, resolveTrainConfig, resumeTrainConfig, TRAIN_CHUNK_ROWS, TrainConfig, TrainOptions } from './config';
import { evaluateRows } from './evaluate_rows';
import { TrainHooks } from './hooks';
import { shardGradients } from './shard_gradients';
import { WorkerPool } from './worker_pool';

/** What `train()` returns. The caller owns `model` and disposes it. */
export interface TrainResult {
  model: LipschitzSequential;
  /** What `train.json` holds now. */
  trainState: TrainState;
  /** True when `hooks.signal` stopped the run; the checkpoint holds the last complete epoch. */
  interrupted: boolean;
  backend: { name: string; description: string };
}

/** Sums of per-batch means, weighted by batch size. */
class RunningMeans {
  private count = 0;
  private readonly sums = [0, 0, 0];
  add(n: number, values: ArrayLike<number>): void {
    for (let i = 0; i < 3; i++) this.sums[i] += n * values[i];
    this.count += n;
  }
  /** [loss, acc, kr] */
  means(): [number, number, number] {
    return [this.sums[0] / this.count, this.sums[1] / this.count, this.sums[2] / this.count];
  }
}

/** Reused input buffers: pixels and one-hot labels of one batch. */
class BatchBuffers {
  readonly batch: SampleBatch;
  private readonly oneHot: Float32Array;
  constructor(
    batchSize: number,
    private readonly rowSize: number,
    private readonly numClasses: number,
  ) {
    this.batch = { images: new Float32Array(batchSize * rowSize), labels: new Uint8Array(batchSize) };
    this.oneHot = new Float32Array(batchSize * numClasses);
  }

  /**
   * Tensors of one batch. The tensors may share the buffers (tfjs-backend-cpu
   * keeps the array), so they must be disposed before the next call.
   */
  tensors(ds: Dataset, batch: SampleBatch): { x: tf.Tensor4D; y: tf.Tensor2D } {
    const m = batch.labels.length;
    const y = this.oneHot.subarray(0, m * this.numClasses);
    y.fill(0);
    for (let r = 0; r < m; r++) y[r * this.numClasses + batch.labels[r]] = 1;
    return {
      x: tf.tensor4d(batch.images.subarray(0, m * this.rowSize), [m, ds.height, ds.width, ds.channels]),
      y: tf.tensor2d(y, [m, this.numClasses]),
    };
  }
}

/** Lets signal handlers and progress-bar timers run between steps. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One Adam step: constraints updated outside the tape, then loss and gradients
 * over the trainable variables. Returns [loss, acc, kr] of the batch.
 */
function trainStep(
  model: LipschitzSequential,
  vars: tf.Variable[],
  optimizer: tf.AdamOptimizer,
  lossFn: LossFunction,
  x: tf.Tensor,
  y: tf.Tensor,
): tf.Tensor1D {
  model.updateConstraints();
  let logits: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(x, { training: true }) as tf.Tensor;
    logits = tf.keep(out);
    return lossFn(y, out);
  }, vars);
  // In `vars` order: Adam keeps its moments by position.
  optimizer.applyGradients(vars.filter((v) => grads[v.name] !== undefined).map((v) => ({ name: v.name, tensor: grads[v.name] })));
  const stats = tf.tidy(() => tf.stack([value, accuracy(y, logits!), krMulticlass(y, logits!)]) as tf.Tensor1D);
  tf.dispose([value, logits!, ...Object.values(grads)]);
  return stats;
}

/** Loss, accuracy and KR on `ds` in batches, without gradients; null when interrupted. */
async function evaluate(
  model: LipschitzSequential,
  lossFn: LossFunction,
  ds: Dataset,
  batchSize: number,
  signal: TrainHooks['signal'],
  pool: WorkerPool | null,
): Promise<[number, number, number] | null> {
  const means = new RunningMeans();
  if (pool !== null) {
    pool.publishWeights(model);
    const done = await pool.evaluate(ds, batchSize, () => signal?.aborted === true, (rows, metrics) => means.add(rows, metrics));
    return done ? means.means() : null;
  }
  const rowSize = ds.height * ds.width * ds.channels;
  const geometry = { inputShape: [ds.height, ds.width, ds.channels] as [number, number, number], numClasses: ds.classNames.length };
  for (let start = 0; start < ds.n; start += batchSize) {
    if (signal?.aborted) return null;
    const end = Math.min(start + batchSize, ds.n);
    // Consecutive rows: views of the dataset, no copy.
    const rows = { images: ds.images.subarray(start * rowSize, end * rowSize), labels: ds.labels.subarray(start, end) };
    means.add(end - start, evaluateRows(model, lossFn, rows, geometry, TRAIN_CHUNK_ROWS));
    await yieldToEventLoop();
  }
  return means.means();
}

/**
 * One Adam step on a batch larger than a chunk, in the calling thread: the
 * batch's gradient as the sum of its chunks' shares (shard_gradients.ts).
 */
function chunkedTrainStep(
  model: LipschitzSequential,
  vars: tf.Variable[],
  optimizer: tf.AdamOptimizer,
  shareLoss: ShareLossFunction,
  batch: SampleBatch,
  ds: Dataset,
): tf.Tensor1D {
  model.updateConstraints();
  const geometry = { inputShape: [ds.height, ds.width, ds.channels] as [number, number, number], numClasses: ds.classNames.length };
  const stats = batchStatistics(batch.labels, geometry.numClasses);
  const { grads, metrics } = shardGradients(model, vars, shareLoss, batch, geometry, stats, TRAIN_CHUNK_ROWS);
  optimizer.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: grads[i] })));
  tf.dispose(grads);
  return metrics;
}

/** One Adam step with the workers of `pool`: they compute the gradient, this thread applies it. */
async function parallelTrainStep(
  model: LipschitzSequential,
  vars: tf.Variable[],
  optimizer: tf.AdamOptimizer,
  pool: WorkerPool,
  ds: Dataset,
  indices: Uint32Array,
  labels: Uint8Array,
): Promise<[number, number, number]> {
  model.updateConstraints();
  pool.publishWeights(model);
  for (let r = 0; r < indices.length; r++) labels[r] = ds.labels[indices[r]];
  const stats = batchStatistics(labels.subarray(0, indices.length), ds.classNames.length);
  const { grads, metrics } = await pool.step(ds, indices, stats);
  optimizer.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: grads[i] })));
  tf.dispose(grads);
  return metrics;
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

/**
 * Sets the rate of Adam's next `applyGradients` (tfjs reads its protected
 * `learningRate` at every step). Every training step applies its optimizer
 * step in this thread, with or without workers, so this covers both paths.
 */
export function setLearningRate(optimizer: tf.AdamOptimizer, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/** Adam's current learning rate. */
export function learningRateOf(optimizer: tf.AdamOptimizer): number {
  return (optimizer as unknown as { learningRate: number }).learningRate;
}

/**
 * Trains `options.arch` with Adam and checkpoints into `options.outDir` after
 * every epoch (model, optimizer state, `train.json`). `resume: true` continues
 * the checkpoint there up to `options.epochs`; the result is the same as an
 * uninterrupted run. Per step: `updateConstraints()`, then loss and gradients
 * on one batch; the train metrics are running means over the epoch, then the
 * validation metrics on the test split, as in the deel-torchlip notebook.
 */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  try {
    return await runTraining(options, hooks);
  } finally {
    hooks.onEnd?.();
  }
}

async function runTraining(options: TrainOptions, hooks: TrainHooks): Promise<TrainResult> {
  const log = hooks.logger ?? (() => undefined);
  assertArg(
    typeof options?.outDir === 'string' && options.outDir.length > 0,
    () => `'outDir' must be a folder path, got ${JSON.stringify(options?.outDir)}`,
  );
  const outDir = options.outDir;
  const recovered = recoverCommit(outDir);
  if (recovered === 'rolled-forward') log(`finished writing the interrupted checkpoint in ${outDir}`);
  if (recovered === 'discarded') log(`discarded a partly written checkpoint in ${outDir}`);

  let config: TrainConfig;
  if (options.resume) {
    if (!hasCheckpoint(outDir)) {
      throw new InvalidArgumentError(`'resume': ${outDir} holds no checkpoint (no train.json); train without --resume first`);
    }
    config = resumeTrainConfig(readTrainState(outDir).config, options);
  } else {
    config = resolveTrainConfig(options);
    if (hasCheckpoint(outDir)) {
      const done = readTrainState(outDir).epochs.length;
      throw new InvalidArgumentError(
        `'outDir' ${outDir} already holds a checkpoint (${done} epochs): pass --resume to continue it, or choose another --out`,
      );
    }
  }

  const lossFn = makeLoss(config.loss, { alpha: config.alpha, minMargin: config.minMargin });
  const backend = await selectBackend(config.backend);
  log(`backend: ${backend.description}`);
  let workers = config.workers ?? defaultWorkers();
  if (workers > 1 && backend.name === 'tensorflow') {
    log(`workers: 1 (the tensorflow backend uses every core by itself)`);
    workers = 1;
  } else {
    log(`workers: ${workers}${config.workers === undefined ? ' (one per core; --workers to change)' : ''}`);
  }
  const dataOpts = { dataDir: config.dataDir, limit: config.limit };
  const trainSet = await loadDataset(config.dataset, 'train', dataOpts);
  const valSet = await loadDataset(config.dataset, config.valSplit, dataOpts);

  let model: LipschitzSequential;
  let optimizer: tf.AdamOptimizer;
  let history: EpochRecord[];
  if (options.resume) {
    const checkpoint = await loadCheckpoint(outDir);
    model = checkpoint.model;
    history = checkpoint.trainState.epochs;
    try {
      optimizer = await loadOptimizer(outDir, model);
    } catch (err) {
      model.dispose();
      throw err;
    }
    log(`resuming ${outDir} after epoch ${history.length}`);
  } else {
    model = buildModel(config.arch, { seed: config.seed, logger: { warn: log } });
    optimizer = tf.train.adam(config.lr);
    history = [];
  }

  try {
    const interrupted = await runEpochs(model, optimizer, lossFn, config, history, trainSet, valSet, backend, workers, hooks);
    return { model, trainState: { config, epochs: history }, interrupted, backend };
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    optimizer.dispose();
  }
}

/** The epochs from `history.length + 1` to `config.epochs`; true when interrupted. */
async function runEpochs(
  model: LipschitzSequential,
  optimizer: tf.AdamOptimizer,
  lossFn: LossFunction,
  config: TrainConfig,
  history: EpochRecord[],
  trainSet: Dataset,
  valSet: Dataset,
  backend: TrainResult['backend'],
  workers: number,
  hooks: TrainHooks,
): Promise<boolean> {
  const { batchSize, epochs, outDir } = config;
  const steps = Math.ceil(trainSet.n / batchSize);
  // The schedule spans the run's target: resuming to a larger --epochs stretches it from there.
  const totalSteps = epochs * steps;
  hooks.onStart?.({
    config,
    backend,
    firstEpoch: history.length + 1,
    trainSize: trainSet.n,
    valSize: valSet.n,
    stepsPerEpoch: steps,
    workers,
  });
  if (history.length >= epochs) {
    hooks.logger?.(`${outDir} already holds ${history.length} epochs (target ${epochs}): nothing to train`);
    return false;
  }

  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const rowSize = trainSet.height * trainSet.width * trainSet.channels;
  const numClasses = trainSet.classNames.length;
  const buffers = new BatchBuffers(batchSize, rowSize, numClasses);
  const shareLoss = makeShareLoss(config.loss, { alpha: config.alpha, minMargin: config.minMargin });
  const pool =
    workers > 1
      ? await WorkerPool.start({
          workers,
          backend: backend.name as 'wasm' | 'cpu',
          model,
          loss: { name: config.loss, options: { alpha: config.alpha, minMargin: config.minMargin } },
          inputShape: [trainSet.height, trainSet.width, trainSet.channels],
          numClasses,
          chunkRows: TRAIN_CHUNK_ROWS,
          maxRows: batchSize,
        })
      : null;
  try {
    // One shuffle per epoch from one stream: replaying the finished epochs puts a resumed run where it stopped.
    const rng = mulberry32(config.seed);
    for (let e = 0; e < history.length; e++) randomPermutation(trainSet.n, rng);

    for (let epoch = history.length + 1; epoch <= epochs; epoch++) {
      const started = performance.now();
      const order = randomPermutation(trainSet.n, rng);
      const trainMeans = new RunningMeans();
      hooks.onEpochStart?.({ epoch, epochs, steps });
      let step = 0;
      let lr = learningRateOf(optimizer);
      for (const indices of batchIndices(order, batchSize)) {
        if (hooks.signal?.aborted) return true;
        step++; // here, not in the hook's argument: `onBatchEnd?.(...)` skips it when there is no hook
        // A function of the global step alone: a resumed run takes the same rates.
        lr = learningRateAt(config.lrSchedule, config.lr, (epoch - 1) * steps + step, totalSteps);
        setLearningRate(optimizer, lr);
        let values: ArrayLike<number>;
        if (pool !== null) {
          values = await parallelTrainStep(model, vars, optimizer, pool, trainSet, indices, buffers.batch.labels);
        } else {
          const batch = sliceBatch(trainSet.images, trainSet.labels, indices, buffers.batch);
          let stats: tf.Tensor1D;
          if (indices.length <= TRAIN_CHUNK_ROWS) {
            const { x, y } = buffers.tensors(trainSet, batch);
            stats = trainStep(model, vars, optimizer, lossFn, x, y);
            tf.dispose([x, y]);
          } else {
            stats = chunkedTrainStep(model, vars, optimizer, shareLoss, batch, trainSet);
          }
          values = await stats.data();
          stats.dispose();
        }
        trainMeans.add(indices.length, values);
        const [loss, acc, kr] = trainMeans.means();
        hooks.onBatchEnd?.({
          epoch,
          step,
          steps,
          loss,
          acc,
          kr,
          lr,
          ...(pool !== null ? { workerTensors: [...pool.workerTensors] } : {}),
        });
        await yieldToEventLoop();
      }
      const val = await evaluate(model, lossFn, valSet, batchSize, hooks.signal, pool);
      if (val === null) return true;
      const [loss, acc, kr] = trainMeans.means();
      const record: EpochRecord = {
        epoch,
        loss,
        acc,
        kr,
        val_loss: val[0],
        val_acc: val[1],
        val_kr: val[2],
        lr,
        seconds: round((performance.now() - started) / 1000, 3),
      };
      history.push(record);
      await saveCheckpoint(outDir, model, optimizer, { config, epochs: history });
      hooks.onEpochEnd?.(record, { epochs });
    }
    return false;
  } finally {
    await pool?.dispose();
  }
}

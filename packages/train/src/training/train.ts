import * as tf from '@tensorflow/tfjs-core';
import { OutputLock, withOutputLock } from '@lip/core';
import { selectBackend } from '../backend';
import { nonFiniteLossError } from '../callbacks/non_finite_loss';
import { batchIndices, Dataset, mulberry32, randomPermutation, SampleBatch, sliceBatch } from '../data';
import { AugmentSpec, augmentRows, DEFAULT_AUGMENT_SHIFT } from '../data/augment';
import { assertArg, InvalidArgumentError } from '../errors';
import { LipschitzSequential, withConstraintsHeld } from '../layers';
import { batchStatistics, LipLoss, LossFunction, LossOptions, LossState, makeLoss, ShareLossFunction } from '../losses';
import { accuracy, krMulticlass } from '../metrics';
import { buildModel } from '../models';
import { EpochRecord, hasCheckpoint, loadCheckpoint, loadOptimizer, loadTrainingWeights, readTrainState, saveCheckpoint, TrainState } from './checkpoint';
import { recoverCommit } from './commit';
import { defaultWorkers, learningRateAt, resolveTrainConfig, resumeTrainConfig, TRAIN_CHUNK_ROWS, TrainConfig, TrainOptions } from './config';
import { WeightAverage, writeWeightValues } from './ema';
import { evaluateRows } from './evaluate_rows';
import { TrainHooks } from './hooks';
import { shardGradients } from './shard_gradients';
import { TrainCallbackRunner } from './train_callbacks';
import { loadTrainData } from './train_data';
import { asLipschitzSequential, assertModelFitsData, firstNonFiniteWeight } from './train_model';
import { WorkerPool } from './worker_pool';

/** What `train()` returns. The caller owns `model` and disposes it. */
export interface TrainResult {
  /** The trained model; with `ema`, holding the averaged weights (as the checkpoint does) unless interrupted. */
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
 * over the trainable variables. Returns [loss, acc, kr, mean |logit|] of the batch.
 */
/** Exported for tools/profile-train.js, which profiles this very step (not part of the package's API). */
export function trainStep(
  model: LipschitzSequential,
  vars: tf.Variable[],
  optimizer: tf.AdamOptimizer,
  lossFn: LossFunction,
  x: tf.Tensor,
  y: tf.Tensor,
): tf.Tensor1D {
  model.updateConstraints();
  let logits: tf.Tensor | undefined;
  // Updated just above, once per step: the layers must not update again in call().
  const { value, grads } = withConstraintsHeld(() =>
    tf.variableGrads(() => {
      const out = model.apply(x, { training: true }) as tf.Tensor;
      logits = tf.keep(out);
      return lossFn(y, out);
    }, vars),
  );
  // In `vars` order: Adam keeps its moments by position.
  optimizer.applyGradients(vars.filter((v) => grads[v.name] !== undefined).map((v) => ({ name: v.name, tensor: grads[v.name] })));
  const stats = tf.tidy(() => tf.stack([value, accuracy(y, logits!), krMulticlass(y, logits!), tf.mean(tf.abs(logits!))]) as tf.Tensor1D);
  tf.dispose([value, logits!, ...Object.values(grads)]);
  return stats;
}

/** Loss, accuracy and KR on `ds` in batches, without gradients; null when interrupted. */
async function evaluate(
  model: LipschitzSequential,
  lossFn: LossFunction,
  ds: Dataset,
  numClasses: number,
  batchSize: number,
  signal: TrainHooks['signal'],
  pool: WorkerPool | null,
): Promise<[number, number, number] | null> {
  const means = new RunningMeans();
  if (pool !== null) {
    pool.publishWeights(model);
    const done = await pool.evaluate(
      ds,
      batchSize,
      () => signal?.aborted === true,
      (rows, metrics) => means.add(rows, metrics),
    );
    return done ? means.means() : null;
  }
  const rowSize = ds.height * ds.width * ds.channels;
  const geometry = { inputShape: [ds.height, ds.width, ds.channels] as [number, number, number], numClasses };
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
/** Exported for tools/profile-train.js (not part of the package's API). */
export function chunkedTrainStep(
  model: LipschitzSequential,
  vars: tf.Variable[],
  optimizer: tf.AdamOptimizer,
  shareLoss: ShareLossFunction,
  batch: SampleBatch,
  ds: Dataset,
  numClasses: number,
): tf.Tensor1D {
  model.updateConstraints();
  const geometry = { inputShape: [ds.height, ds.width, ds.channels] as [number, number, number], numClasses };
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
  numClasses: number,
  indices: Uint32Array,
  labels: Uint8Array,
  prepareRows: ((images: Float32Array, rows: number, firstRow: number) => void) | undefined,
): Promise<number[]> {
  model.updateConstraints();
  pool.publishWeights(model);
  for (let r = 0; r < indices.length; r++) labels[r] = ds.labels[indices[r]];
  const stats = batchStatistics(labels.subarray(0, indices.length), numClasses);
  const { grads, metrics } = await pool.step(ds, indices, stats, prepareRows);
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
 * Trains `options.arch` (or `options.model`) with Adam on `options.dataset`
 * (or `dataPath`, or `options.data`: training/train_data.ts) and checkpoints
 * into `options.outDir` after every epoch (model, optimizer state,
 * `train.json`). `resume: true` continues the checkpoint there up to
 * `options.epochs`; the result is the same as an uninterrupted run. Per step:
 * `updateConstraints()`, then loss and gradients on one batch; the train
 * metrics are running means over the epoch, then the validation metrics on
 * the test split, as in the deel-torchlip notebook. `options.callbacks` run
 * as in `model.fit` (each epoch's before its checkpoint is written). A NaN or
 * infinite loss, validation loss or weight stops the run with a
 * `NonFiniteLossError` naming the epoch and batch; the checkpoint on disk
 * stays the last good epoch.
 * Holds the lock `<outDir>.lock` (`@lip/core` lock.ts) while it runs: a second
 * writer of the folder gets OutputInUseError naming this process's pid.
 */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  try {
    assertArg(typeof options?.outDir === 'string' && options.outDir.length > 0, () => `'outDir' must be a folder path, got ${JSON.stringify(options?.outDir)}`);
    // One writer per checkpoint folder (`<outDir>.lock`), from before recoverCommit: another run's staging is not ours to discard.
    return await withOutputLock(options.outDir, { what: 'output folder', hint: 'use another --out' }, (lock) => runTraining(options, hooks, lock));
  } finally {
    hooks.onEnd?.();
  }
}

async function runTraining(options: TrainOptions, hooks: TrainHooks, lock: OutputLock): Promise<TrainResult> {
  const log = hooks.logger ?? (() => undefined);
  const outDir = options.outDir;
  const recovered = recoverCommit(outDir);
  if (recovered === 'rolled-forward') log(`finished writing the interrupted checkpoint in ${outDir}`);
  if (recovered === 'discarded') log(`discarded a partly written checkpoint in ${outDir}`);

  let config: TrainConfig;
  // The loss's state after the checkpoint's last step (soft_hkr's moving mean).
  let lossState: LossState = {};
  if (options.resume) {
    if (!hasCheckpoint(outDir)) {
      throw new InvalidArgumentError(`'resume': ${outDir} holds no checkpoint (no train.json); train without --resume first`);
    }
    const stored = readTrainState(outDir);
    config = resumeTrainConfig(stored.config, options);
    lossState = stored.epochs[stored.epochs.length - 1]?.lossState ?? {};
  } else {
    config = resolveTrainConfig(options);
    if (hasCheckpoint(outDir)) {
      const done = readTrainState(outDir).epochs.length;
      throw new InvalidArgumentError(`'outDir' ${outDir} already holds a checkpoint (${done} epochs): pass --resume to continue it, or choose another --out`);
    }
  }

  const lossFn = makeLoss(config.loss, { ...lossOptionsOf(config), ...lossState });
  // The data first: a bad file is the one line the user sees.
  const data = await loadTrainData(config, options.data);
  const trainSet = data.train;
  const valSet = data.validation;
  const inputShape: [number, number, number] = [trainSet.height, trainSet.width, trainSet.channels];
  if (!options.resume) config.classNames = data.classNames;
  const backend = await selectBackend(config.backend);
  log(`backend: ${backend.description}`);
  let workers = config.workers ?? defaultWorkers();
  if (workers > 1 && backend.name === 'tensorflow') {
    log(`workers: 1 (the tensorflow backend uses every core by itself)`);
    workers = 1;
  } else {
    log(`workers: ${workers}${config.workers === undefined ? ' (one per core; --workers to change)' : ''}`);
  }

  let model: LipschitzSequential;
  let optimizer: tf.AdamOptimizer;
  let history: EpochRecord[];
  let average: WeightAverage | null = null;
  if (options.resume) {
    const checkpoint = await loadCheckpoint(outDir);
    model = checkpoint.model;
    history = checkpoint.trainState.epochs;
    try {
      assertModelFitsData(model, inputShape, data.classNames.length, `the model in ${outDir}`);
      optimizer = await loadOptimizer(outDir, model);
      // The model files hold the averages; training goes on from the raw weights beside them.
      if (config.ema !== undefined) {
        average = new WeightAverage(config.ema, model);
        writeWeightValues(model, loadTrainingWeights(outDir, model));
      }
    } catch (err) {
      model.dispose();
      throw err;
    }
    log(`resuming ${outDir} after epoch ${history.length}`);
  } else {
    model =
      options.model !== undefined
        ? asLipschitzSequential(options.model)
        : buildModel(config.arch, { seed: config.seed, inputShape, numClasses: data.classNames.length, headNorm: config.headNorm, logger: { warn: log } });
    try {
      assertModelFitsData(model, inputShape, data.classNames.length, options.model !== undefined ? "'model'" : `'arch' ${config.arch}`);
    } catch (err) {
      if (options.model === undefined) model.dispose();
      throw err;
    }
    optimizer = tf.train.adam(config.lr);
    history = [];
    if (config.ema !== undefined) average = new WeightAverage(config.ema, model);
  }

  // A worker's update of running batch statistics (BatchCentering) would never reach this model.
  const stateful = model.layers.find((l) => (l as { usesBatchStatistics?: boolean }).usesBatchStatistics === true);
  if (workers > 1 && stateful !== undefined) {
    log(`workers: 1 (layer '${stateful.name}' keeps running batch statistics, which worker threads cannot update)`);
    workers = 1;
  }
  const callbacks = new TrainCallbackRunner(options.callbacks, model, lossFn);
  try {
    const interrupted = await runEpochs(
      model,
      optimizer,
      lossFn,
      config,
      history,
      { trainSet, valSet, numClasses: data.classNames.length },
      backend,
      workers,
      hooks,
      lock,
      callbacks,
      average,
    );
    // The model the checkpoint holds.
    if (average !== null && !interrupted) average.apply();
    return { model, trainState: { config, epochs: history }, interrupted, backend };
  } catch (err) {
    // A model the caller passed stays theirs to dispose.
    if (options.model === undefined || options.resume) model.dispose();
    throw err;
  } finally {
    optimizer.dispose();
  }
}

/** The loss options a run's config sets. */
function lossOptionsOf(config: TrainConfig): LossOptions {
  const optional = { tau: config.tau, temperature: config.temperature, penalty: config.penalty, alphaMean: config.alphaMean, offset: config.offset };
  return { alpha: config.alpha, minMargin: config.minMargin, ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) };
}

/** The splits of a run; `valSet` null when it has no validation data. */
interface RunData {
  trainSet: Dataset;
  valSet: Dataset | null;
  numClasses: number;
}

/** The epochs from `history.length + 1` to `config.epochs`; true when interrupted. */
async function runEpochs(
  model: LipschitzSequential,
  optimizer: tf.AdamOptimizer,
  lossFn: LipLoss,
  config: TrainConfig,
  history: EpochRecord[],
  { trainSet, valSet, numClasses }: RunData,
  backend: TrainResult['backend'],
  workers: number,
  hooks: TrainHooks,
  lock: OutputLock,
  callbacks: TrainCallbackRunner,
  average: WeightAverage | null,
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
    valSize: valSet?.n ?? 0,
    stepsPerEpoch: steps,
    workers,
  });
  if (history.length >= epochs) {
    hooks.logger?.(`${outDir} already holds ${history.length} epochs (target ${epochs}): nothing to train`);
    return false;
  }

  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const rowSize = trainSet.height * trainSet.width * trainSet.channels;
  const buffers = new BatchBuffers(batchSize, rowSize, numClasses);
  const augment: AugmentSpec = {
    mode: config.augment ?? 'none',
    shift: config.augmentShift ?? DEFAULT_AUGMENT_SHIFT,
    seed: config.seed,
    epoch: 0,
    height: trainSet.height,
    width: trainSet.width,
    channels: trainSet.channels,
  };
  const augmentScratch = new Float32Array(rowSize);
  const shareLoss: ShareLossFunction = lossFn.share;
  const pool =
    workers > 1
      ? await WorkerPool.start({
          workers,
          backend: backend.name as 'wasm' | 'cpu',
          model,
          loss: { name: config.loss, options: lossFn.options },
          inputShape: [trainSet.height, trainSet.width, trainSet.channels],
          numClasses,
          chunkRows: TRAIN_CHUNK_ROWS,
          maxRows: batchSize,
        })
      : null;
  // What was kept if the run stops now, for the error of a diverged run.
  const kept = (): string =>
    history.length > 0 ? `the checkpoint in ${outDir} still holds epoch ${history.length}` : `no checkpoint was written to ${outDir}`;
  let publishedLoss = JSON.stringify(lossFn.options);
  try {
    // One shuffle per epoch from one stream: replaying the finished epochs puts a resumed run where it stopped.
    const rng = mulberry32(config.seed);
    for (let e = 0; e < history.length; e++) randomPermutation(trainSet.n, rng);
    await callbacks.trainBegin({ epochs, initialEpoch: history.length, samples: trainSet.n, steps, batchSize, doValidation: valSet !== null });

    for (let epoch = history.length + 1; epoch <= epochs; epoch++) {
      const started = performance.now();
      const order = randomPermutation(trainSet.n, rng);
      const trainMeans = new RunningMeans();
      hooks.onEpochStart?.({ epoch, epochs, steps });
      await callbacks.epochBegin(epoch - 1);
      let step = 0;
      let lr = learningRateOf(optimizer);
      augment.epoch = epoch;
      augment.mode = config.augmentEpochs === undefined || epoch <= config.augmentEpochs ? (config.augment ?? 'none') : 'none';
      for (const indices of batchIndices(order, batchSize)) {
        if (hooks.signal?.aborted) return true;
        step++; // here, not in the hook's argument: `onBatchEnd?.(...)` skips it when there is no hook
        // A function of the global step alone: a resumed run takes the same rates.
        lr = learningRateAt(config.lrSchedule, config.lr, (epoch - 1) * steps + step, totalSteps);
        setLearningRate(optimizer, lr);
        await callbacks.batchBegin(step - 1, indices.length);
        // A scheduler may have changed a loss parameter: the workers rebuild their loss with it.
        const lossNow = JSON.stringify(lossFn.options);
        if (pool !== null && lossNow !== publishedLoss) pool.setLossOptions(lossFn.options);
        publishedLoss = lossNow;
        let values: ArrayLike<number>;
        // Row r of this batch is sample (step - 1)·batchSize + r of the epoch: its augmentation draws.
        const firstPosition = (step - 1) * batchSize;
        if (pool !== null) {
          const prepareRows =
            augment.mode === 'none'
              ? undefined
              : (images: Float32Array, rows: number, firstRow: number) => augmentRows(images, rows, firstPosition + firstRow, augment, augmentScratch);
          values = await parallelTrainStep(model, vars, optimizer, pool, trainSet, numClasses, indices, buffers.batch.labels, prepareRows);
        } else {
          const batch = sliceBatch(trainSet.images, trainSet.labels, indices, buffers.batch);
          augmentRows(batch.images, indices.length, firstPosition, augment, augmentScratch);
          let stats: tf.Tensor1D;
          if (indices.length <= TRAIN_CHUNK_ROWS) {
            const { x, y } = buffers.tensors(trainSet, batch);
            stats = trainStep(model, vars, optimizer, lossFn, x, y);
            tf.dispose([x, y]);
          } else {
            stats = chunkedTrainStep(model, vars, optimizer, shareLoss, batch, trainSet, numClasses);
          }
          values = await stats.data();
          stats.dispose();
        }
        if (!Number.isFinite(values[0])) {
          throw nonFiniteLossError({ what: 'the loss', value: values[0], epoch, batch: step, steps, lr, kept: kept() });
        }
        average?.update();
        // A loss with state (soft_hkr's moving mean) sees this batch from the next step on.
        lossFn.observeStep({ meanAbsLogit: values[3] });
        trainMeans.add(indices.length, values);
        await callbacks.batchEnd(step - 1, indices.length, values);
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
      let val: [number, number, number] | null = null;
      if (valSet !== null) {
        const validate = (): ReturnType<typeof evaluate> => evaluate(model, lossFn, valSet, numClasses, batchSize, hooks.signal, pool);
        val = average !== null ? await average.withAveragedWeights(validate) : await validate();
        if (val === null) return true;
        if (!Number.isFinite(val[0])) throw nonFiniteLossError({ what: 'the validation loss', value: val[0], epoch, batch: null, lr, kept: kept() });
      }
      const [loss, acc, kr] = trainMeans.means();
      const record: EpochRecord = {
        epoch,
        loss,
        acc,
        kr,
        ...(val !== null ? { val_loss: val[0], val_acc: val[1], val_kr: val[2] } : {}),
        lr,
        ...(Object.keys(lossFn.state).length > 0 ? { lossState: { ...lossFn.state } } : {}),
        seconds: round((performance.now() - started) / 1000, 3),
      };
      // Before the checkpoint: a callback that changes the model (CondenseCallback) is saved with it, so --resume continues exactly.
      await callbacks.epochEnd(epoch - 1, record);
      const bad = firstNonFiniteWeight(model);
      if (bad !== null) throw nonFiniteLossError({ what: `weight '${bad.name}'`, value: bad.value, epoch, batch: null, lr, kept: kept() });
      history.push(record);
      lock.assertHeld();
      const state = { config, epochs: history };
      if (average !== null) await average.withAveragedWeights((raw) => saveCheckpoint(outDir, model, optimizer, state, raw));
      else await saveCheckpoint(outDir, model, optimizer, state);
      hooks.onEpochEnd?.(record, { epochs });
      // A callback (EarlyStopping) asked to stop: after this epoch's checkpoint, as model.fit does.
      if (model.stopTraining) break;
    }
    await callbacks.trainEnd();
    return false;
  } finally {
    await pool?.dispose();
  }
}

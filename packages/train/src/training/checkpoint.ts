import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelError } from '../errors';
import { LipschitzSequential } from '../layers';
import type { LossState } from '../losses';
import { commitFiles, committedPath, FileSet } from './commit';
import { TrainConfig, withConfigDefaults } from './config';
import { fileHandler, modelFiles, weightBytes } from './file-handler';

/** Files of a checkpoint folder, besides `model.json` and `weights.bin`. */
export const TRAIN_STATE_FILE = 'train.json';
export const OPTIMIZER_FILE = 'optimizer.json';
export const OPTIMIZER_WEIGHTS_FILE = 'optimizer.bin';
/**
 * A run with `ema`: the model files hold the averaged weights (what `lip
 * export` and `lip verify` read); these hold the raw weights (every weight of
 * the model, power-iteration vectors included) that `--resume` trains on.
 */
export const TRAINING_WEIGHTS_FILE = 'training_weights.json';
export const TRAINING_WEIGHTS_BIN_FILE = 'training_weights.bin';

/** One row of the history, in the notebook's names. Train metrics are running means over the epoch. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  acc: number;
  kr: number;
  /** Validation metrics; absent when the run has no validation data (`train()` on data without a test split). */
  val_loss?: number;
  val_acc?: number;
  val_kr?: number;
  /**
   * Learning rate of the epoch's last step (the schedule's, see `lrSchedule`);
   * absent in checkpoints written before it was recorded.
   */
  lr?: number;
  /** The loss's state after the epoch's last step, for `--resume` (`soft_hkr`'s `runningMean`); absent for a loss without. */
  lossState?: LossState;
  /** Wall time of the epoch, training and validation. */
  seconds: number;
}

/** `train.json`: the run's settings and one record per completed epoch (1, 2, ... with no gap). */
export interface TrainState {
  config: TrainConfig;
  epochs: EpochRecord[];
}

/** `optimizer.json`: Adam's settings and step count; the moments are in `optimizer.bin`. */
interface OptimizerJson {
  format: 'lip-adam';
  config: { learningRate: number; beta1: number; beta2: number; epsilon: number };
  iterations: number;
  /** beta^(t+1) as Adam accumulated it; recomputing it with pow differs in the last bits. */
  accBeta1: number;
  accBeta2: number;
  /** `iter`, then the first moments, then the second moments, in the model's trainable-weight order. */
  weights: tf.io.WeightsManifestEntry[];
}

/** Adam's private bias-correction accumulators (tfjs-core 4.x), saved so a resumed run is bit-identical. */
interface AdamAccumulators {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/** True when `dir` holds a committed checkpoint. */
export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(committedPath(dir, TRAIN_STATE_FILE));
}

async function optimizerFiles(optimizer: tf.AdamOptimizer): Promise<FileSet> {
  const named = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(named);
  named[0].tensor.dispose(); // `iter`, a fresh scalar; the moments are the optimizer's own variables
  const acc = optimizer as unknown as AdamAccumulators;
  const config = optimizer.getConfig() as OptimizerJson['config'];
  const json: OptimizerJson = {
    format: 'lip-adam',
    config: { learningRate: config.learningRate, beta1: config.beta1, beta2: config.beta2, epsilon: config.epsilon },
    iterations: optimizer.iterations,
    accBeta1: acc.accBeta1.dataSync()[0],
    accBeta2: acc.accBeta2.dataSync()[0],
    weights: specs,
  };
  return { [OPTIMIZER_FILE]: JSON.stringify(json), [OPTIMIZER_WEIGHTS_FILE]: new Uint8Array(data) };
}

async function modelArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  return captured!;
}

/** `training_weights.json`: the manifest of `training_weights.bin`, entries in `model.weights` order. */
interface TrainingWeightsJson {
  format: 'lip-training-weights';
  weights: tf.io.WeightsManifestEntry[];
}

async function trainingWeightFiles(model: tfl.LayersModel, values: readonly Float32Array[]): Promise<FileSet> {
  const named = model.weights.map((w, i) => ({ name: `w${i}`, tensor: tf.tensor(values[i]!, w.shape as number[], 'float32') }));
  try {
    const { data, specs } = await tf.io.encodeWeights(named);
    const json: TrainingWeightsJson = { format: 'lip-training-weights', weights: specs };
    return { [TRAINING_WEIGHTS_FILE]: JSON.stringify(json), [TRAINING_WEIGHTS_BIN_FILE]: new Uint8Array(data) };
  } finally {
    tf.dispose(named.map((n) => n.tensor));
  }
}

/**
 * Writes a checkpoint into `dir`: model (tfjs format), Adam state and `train.json`,
 * replaced all together so a crash leaves the previous checkpoint or this one.
 * `trainingWeights` (a run with `ema`, whose `model` holds the averages): the
 * raw values of every model weight, in `model.weights` order, for `--resume`.
 */
export async function saveCheckpoint(
  dir: string,
  model: tfl.LayersModel,
  optimizer: tf.AdamOptimizer,
  state: TrainState,
  trainingWeights?: readonly Float32Array[],
): Promise<void> {
  const files: FileSet = {
    ...modelFiles(await modelArtifacts(model)),
    ...(await optimizerFiles(optimizer)),
    ...(trainingWeights !== undefined ? await trainingWeightFiles(model, trainingWeights) : {}),
    [TRAIN_STATE_FILE]: JSON.stringify(state, null, 2) + '\n',
  };
  commitFiles(dir, files);
}

/**
 * The raw weights of the checkpoint in `dir` (see `TRAINING_WEIGHTS_FILE`), in
 * `model.weights` order, checked against `model`.
 */
export function loadTrainingWeights(dir: string, model: tfl.LayersModel): Float32Array[] {
  const json = readJson<TrainingWeightsJson>(dir, TRAINING_WEIGHTS_FILE);
  const binPath = committedPath(dir, TRAINING_WEIGHTS_BIN_FILE);
  const fits =
    json.format === 'lip-training-weights' &&
    Array.isArray(json.weights) &&
    json.weights.length === model.weights.length &&
    json.weights.every((s, i) => s.dtype === 'float32' && tf.util.arraysEqual(s.shape, model.weights[i]!.shape as number[]));
  if (!fits) {
    throw new ModelError(`${committedPath(dir, TRAINING_WEIGHTS_FILE)} does not match the model in ${dir}: its weights are not shaped like the model's`);
  }
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(binPath);
  } catch {
    throw new ModelError(`${dir} holds no raw training weights: cannot read ${binPath} (a run with --ema writes it)`);
  }
  if (bytes.byteLength !== weightBytes(json.weights)) {
    throw new ModelError(`${binPath} is truncated or corrupt: ${bytes.byteLength} bytes, ${TRAINING_WEIGHTS_FILE} expects ${weightBytes(json.weights)}`);
  }
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  return json.weights.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const values = all.slice(offset, offset + size);
    offset += size;
    return values;
  });
}

function readJson<T>(dir: string, name: string): T {
  const file = committedPath(dir, name);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ModelError(`${dir} holds no checkpoint: cannot read ${file}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new ModelError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads and checks `train.json` of the checkpoint in `dir`. Run settings added
 * since the checkpoint was written get the value that reproduces it
 * (`withConfigDefaults`: no `lrSchedule` is `constant`).
 */
export function readTrainState(dir: string): TrainState {
  const state = readJson<TrainState>(dir, TRAIN_STATE_FILE);
  const ok =
    state !== null &&
    typeof state === 'object' &&
    typeof state.config === 'object' &&
    state.config !== null &&
    Array.isArray(state.epochs) &&
    state.epochs.every((e, i) => e !== null && typeof e === 'object' && e.epoch === i + 1);
  if (!ok) {
    throw new ModelError(`${committedPath(dir, TRAIN_STATE_FILE)} is not a train state ({config, epochs: [{epoch: 1, ...}, ...]})`);
  }
  return { ...state, config: withConfigDefaults(state.config) };
}

/** Loads the model and the history of the checkpoint in `dir` (finishing no commit: read-only). */
export async function loadCheckpoint(dir: string): Promise<{ model: LipschitzSequential; trainState: TrainState }> {
  const trainState = readTrainState(dir);
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(fileHandler(dir));
  } catch (err) {
    if (err instanceof ModelError) throw err;
    throw new ModelError(`cannot load the model in ${dir}: ${(err as Error).message}`);
  }
  if (!(model instanceof LipschitzSequential)) {
    model.dispose();
    throw new ModelError(`the model in ${dir} is not a LipschitzSequential (it is a ${model.getClassName()})`);
  }
  return { model, trainState };
}

/** Rebuilds the Adam optimizer of the checkpoint in `dir`, checked against `model`'s trainable weights. */
export async function loadOptimizer(dir: string, model: tfl.LayersModel): Promise<tf.AdamOptimizer> {
  const json = readJson<OptimizerJson>(dir, OPTIMIZER_FILE);
  const binPath = committedPath(dir, OPTIMIZER_WEIGHTS_FILE);
  if (json.format !== 'lip-adam' || !Array.isArray(json.weights)) {
    throw new ModelError(`${committedPath(dir, OPTIMIZER_FILE)} is not a lip Adam state`);
  }
  const bytes = fs.readFileSync(binPath);
  const moments = json.weights.slice(1);
  const trainable = model.trainableWeights;
  const shapesMatch =
    moments.length === 2 * trainable.length && moments.every((s, i) => tf.util.arraysEqual(s.shape, trainable[i % trainable.length].shape as number[]));
  if (!shapesMatch) {
    throw new ModelError(`${binPath} does not match the model: its moments are not shaped like the trainable weights`);
  }
  if (bytes.byteLength !== weightBytes(json.weights)) {
    throw new ModelError(`${binPath} is truncated or corrupt: ${bytes.byteLength} bytes, optimizer.json expects ${weightBytes(json.weights)}`);
  }
  const decoded = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), json.weights);
  const { learningRate, beta1, beta2, epsilon } = json.config;
  const optimizer = tf.train.adam(learningRate, beta1, beta2, epsilon);
  await optimizer.setWeights(json.weights.map((s) => ({ name: s.name, tensor: decoded[s.name] })));
  tf.dispose(Object.values(decoded)); // setWeights made its own variables
  const acc = optimizer as unknown as AdamAccumulators;
  tf.tidy(() => {
    acc.accBeta1.assign(tf.scalar(json.accBeta1));
    acc.accBeta2.assign(tf.scalar(json.accBeta2));
  });
  return optimizer;
}

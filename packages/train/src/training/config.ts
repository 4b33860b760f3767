import * as os from 'os';
import type { CustomCallbackArgs, LayersModel } from '@tensorflow/tfjs-layers';
import type { BaseCallback } from '@tensorflow/tfjs-layers/dist/base_callbacks';
import { DEFAULT_HKR_ALPHA, DEFAULT_MIN_MARGIN, MAX_WORKERS } from '../constants';
import { BackendPreference } from '../backend';
import type { DatasetName, TrainData } from '../data';
import { DATASET_PROVIDERS } from '../data/node';
import { assertArg, InvalidArgumentError } from '../errors';
import { LOSS_PARAMETERS, LossName } from '../losses';
import { ARCHITECTURES, HEAD_NORMS, HeadNorm } from '../models';
import { Augmentation, assertAugmentationFits, DEFAULT_AUGMENT_SHIFT } from '../data/augment';

/** Defaults of `train()` and `lip train`, after the deel-torchlip Fashion-MNIST notebook. */
export const DEFAULT_ARCH = 'seed';
export const DEFAULT_EPOCHS = 10;
export const DEFAULT_TRAIN_BATCH_SIZE = 256;
export const DEFAULT_LEARNING_RATE = 5e-4;
export const DEFAULT_LOSS = 'hkr';
export const DEFAULT_SEED = 42;
export const DEFAULT_DATASET: DatasetName = 'fashion-mnist';
/** `arch` of a run on a model passed to `train()` (`options.model`) rather than built by name. */
export const CUSTOM_ARCH = 'custom';
/** `dataset` of a run on files read with @lip/core's `readLabeledData` (`dataPath`). */
export const FILES_DATASET = 'files';
/** `dataset` of a run on data passed to `train()` in memory (`options.data`). */
export const MEMORY_DATASET = 'memory';

/** Learning-rate schedules: how the Adam learning rate changes over the run's steps. */
export const LR_SCHEDULES = ['constant', 'linear', 'cosine'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];
/** `constant`: every step uses `lr` (runs and checkpoints from before schedules existed). */
export const DEFAULT_LR_SCHEDULE: LrSchedule = 'constant';
/** `linear` and `cosine` end at this fraction of `lr`. */
export const LR_SCHEDULE_FLOOR = 0.02;

/**
 * The learning rate of step `step` (1-based: 1 is the run's first step,
 * `totalSteps` its last) of a run of `totalSteps` steps with base rate `lr`:
 * - `constant`: lr;
 * - `linear`: lr * max(0.02, 1 - step/totalSteps), lr * 0.02 at the last step;
 * - `cosine`: lr * (0.02 + 0.98 * (1 + cos(pi * step/totalSteps)) / 2), lr * 0.02 at the last step.
 * A step past `totalSteps` gets the last step's rate.
 */
export function learningRateAt(schedule: LrSchedule, lr: number, step: number, totalSteps: number): number {
  assertArg(isPositiveInteger(step), () => `'step' must be a positive integer, got ${step}`);
  assertArg(isPositiveInteger(totalSteps), () => `'totalSteps' must be a positive integer, got ${totalSteps}`);
  const t = Math.min(1, step / totalSteps);
  switch (schedule) {
    case 'constant':
      return lr;
    case 'linear':
      return lr * Math.max(LR_SCHEDULE_FLOOR, 1 - t);
    case 'cosine':
      return lr * (LR_SCHEDULE_FLOOR + (1 - LR_SCHEDULE_FLOOR) * 0.5 * (1 + Math.cos(Math.PI * t)));
    default:
      throw new InvalidArgumentError(`'lrSchedule' must be one of ${LR_SCHEDULES.join(', ')}, got ${JSON.stringify(schedule)}`);
  }
}

/**
 * Run settings a recipe sets (`lip train --recipe NAME`, `train({ recipe })`):
 * the schedule, and the loss with its parameters (`alpha` and `minMargin` for
 * `hkr`, `tau` for `tau_cce`).
 */
export type RecipeSettings = Pick<TrainConfig, 'arch' | 'epochs' | 'batchSize' | 'lr' | 'lrSchedule' | 'loss'> &
  Partial<Pick<TrainConfig, 'alpha' | 'minMargin' | 'tau'>>;

/** A named, measured set of training settings. */
export interface TrainRecipe {
  /** One line: what it reaches and how long it takes (shown by `lip train --help`). */
  summary: string;
  settings: RecipeSettings;
}

/**
 * The recipes. `fast`: 0.87 test accuracy on Fashion-MNIST within 3 minutes
 * of training on 2 cores (README "lip train" has the measurements; `npm run
 * bench -- --only recipe` times it). The seed network steps 2x faster than
 * `ortho` with 2 workers; batch 512 beat 1024 at equal time (8 epochs: 0.877
 * to 0.878 over seeds 42, 2, 3; 10 epochs of 1024: 0.869 to 0.877); tau-CCE
 * at tau 5 learns faster per epoch than HKR (alpha 100, min margin 0.25) at
 * the same certified robust accuracy at 36/255. `reference`: the deel-torchlip
 * notebook's.
 */
export const TRAIN_RECIPES: ReadonlyMap<string, TrainRecipe> = new Map<string, TrainRecipe>([
  [
    'fast',
    {
      summary: 'seed network, 8 epochs of batch 512, Adam lr 5e-3 with cosine decay, tau-CCE loss (tau 5): 0.879 test accuracy in under 2 minutes on 2 cores',
      settings: { arch: 'seed', epochs: 8, batchSize: 512, lr: 5e-3, lrSchedule: 'cosine', loss: 'tau_cce', tau: 5 },
    },
  ],
  [
    'reference',
    {
      summary: "the reference notebook's: seed network, 100 epochs of batch 4096, Adam lr 1e-4 (constant), HKR (alpha 100, min margin 0.25)",
      settings: { arch: 'seed', epochs: 100, batchSize: 4096, lr: 1e-4, lrSchedule: 'constant', loss: 'hkr', alpha: 100, minMargin: 0.25 },
    },
  ],
]);

/** The settings of recipe `name`; throws `InvalidArgumentError` naming the recipes. */
export function recipeSettings(name: string): RecipeSettings {
  const recipe = TRAIN_RECIPES.get(name);
  assertArg(recipe !== undefined, () => `'recipe' must be one of ${[...TRAIN_RECIPES.keys()].join(', ')}, got ${JSON.stringify(name)}`);
  return { ...recipe.settings };
}

/**
 * `options` with its recipe's settings under the ones given explicitly
 * (undefined counts as not given). `model` replaces the recipe's `arch`; a
 * `loss` other than the recipe's drops the recipe's loss parameters.
 */
function withRecipe(options: TrainOptions): TrainOptions {
  if (options.recipe === undefined) return options;
  const { arch, loss, alpha, minMargin, tau, ...schedule } = recipeSettings(options.recipe);
  const ownLoss = options.loss === undefined || options.loss === loss ? stripUndefined({ loss, alpha, minMargin, tau }) : {};
  return { ...schedule, ...ownLoss, ...(options.model === undefined ? { arch } : {}), ...(stripUndefined(options) as TrainOptions) };
}

/**
 * Rows per forward/backward chunk: a larger batch (or a worker's share of
 * it) is processed in chunks whose gradients are added, so the memory of the
 * activations does not grow with the batch size.
 */
export const TRAIN_CHUNK_ROWS = 512;

/** The default worker count: the machine's cores. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(MAX_WORKERS, os.availableParallelism?.() ?? os.cpus().length));
}

/** A run, as stored in `train.json` (`config`). */
export interface TrainConfig {
  /** Architecture passed to `buildModel` (default `seed`); `custom` for a model passed as `options.model`. */
  arch: string;
  /** Total number of epochs the run should reach; `--resume` continues up to it (default 10). */
  epochs: number;
  /** Images per training step (default 256). */
  batchSize: number;
  /** Adam learning rate (default 5e-4); with a schedule, the rate it starts from. */
  lr: number;
  /**
   * How the learning rate changes over the run (default `constant`; a
   * checkpoint written before schedules existed loads as `constant`).
   * `linear` and `cosine` decay it to 2% of `lr` at the last step of the
   * run's target `epochs` (see `learningRateAt`). The schedule is a function
   * of the global step and of `epochs`, so resuming to the same target is
   * bit-identical to an uninterrupted run; resuming with a larger `epochs`
   * stretches the schedule from that point (the steps already taken keep
   * their rates, the next ones follow the longer run's curve).
   */
  lrSchedule: LrSchedule;
  /** Loss name for `makeLoss` (default `hkr`). */
  loss: string;
  /** Weight of the hinge term: `hkr`'s (default 100), or (1 - alpha) KR + alpha hinge of `lse_hkr` and `soft_hkr` (default 0.9). */
  alpha: number;
  /** Hinge margin (default 0.25; 1 for `lse_hkr` and `soft_hkr`). */
  minMargin: number;
  /** Temperature of the `tau_cce` loss (required for it, unused by the others). */
  tau?: number;
  /** The other losses' parameters (`LossOptions`): stored with the loss's defaults for a loss that has them, absent otherwise. */
  temperature?: number;
  penalty?: number;
  alphaMean?: number;
  offset?: number;
  /** Seeds the weights and the per-epoch shuffles: same seed, same run (default 42). */
  seed: number;
  /** Use only the first `limit` images of each split (default: all). */
  limit?: number;
  /**
   * Where the data comes from (training/train_data.ts): a registered dataset
   * name (default `fashion-mnist`; `mnist`, `cifar10`, `registerDataset`),
   * `files` (`dataPath`) or `memory` (`options.data`).
   */
  dataset: string;
  /** Folder holding a named dataset's files (default: its search order, see `locateDataset`). */
  dataDir?: string;
  /** `files`: the images, in any format @lip/core's `readLabeledData` reads (`lip train --data PATH`). */
  dataPath?: string;
  /** `files`: the labels file of an images `.npy` or IDX file (`--labels`). */
  labelsPath?: string;
  /** `files`: validation data (`--val-data`); default the source's test split when it has one, else none. */
  valDataPath?: string;
  /** `files`: the labels file of `valDataPath` (`--val-labels`). */
  valLabelsPath?: string;
  /** `files`: axis order of 4-D image arrays (default: told from the shape). */
  layout?: 'nhwc' | 'nchw';
  /** `files`: factor applied to every value (default 1/255 for 8-bit data, 1 otherwise). */
  scale?: number;
  /** `files`: `[H, W, C]` of one image, to lay out an `.npy` of flat rows `[N, H·W·C]` (`--input-shape`); else checked against the data. */
  inputShape?: [number, number, number];
  /** Class names, index = label, as the run found them (written by `train()`; the model has one output per class). */
  classNames?: string[];
  /** Checkpoint folder. */
  outDir: string;
  /** Backend preference for `selectBackend`, which validates it (default `auto`: the fastest that loads). */
  backend?: BackendPreference;
  /**
   * Data-parallel worker threads, each with its own backend (default: the
   * number of cores). 1 trains in the calling thread. Does not change the
   * maths: the shards' gradients add up to the full-batch gradient.
   */
  workers?: number;
  /** Validation set: the test split, as in the notebook. */
  valSplit: 'test';
  /**
   * Label-preserving augmentation of each training batch (data/augment.ts;
   * default `none`): `shift` (random shifts of up to `augmentShift` pixels,
   * zero fill), `shift-flip` (and horizontal mirrors; refused for mnist).
   * Drawn from the seed, the epoch and the sample's place in it.
   */
  augment?: Augmentation;
  /** k of `augment`: shifts in [-k, k] pixels (default 2). */
  augmentShift?: number;
  /**
   * `augment` applies to epochs 1 to `augmentEpochs` only (default: every
   * epoch); the later epochs train on the images as they are.
   */
  augmentEpochs?: number;
  /**
   * Decay of an exponential moving average of the trainable weights, updated
   * after each step (ema = decay·ema + (1 - decay)·w; default: none).
   * Validation and the checkpoint's model (hence `lip export`) use the
   * averaged weights; the checkpoint keeps the raw ones for `--resume`.
   */
  ema?: number;
  /**
   * Normalization of the last (classification) layer of a named architecture
   * (default `spectral`): `lln` normalizes each class's weight row to unit
   * norm (Singla et al. 2022's last layer normalization, FrobeniusDense
   * with disjointNeurons), for the head-aware certificate.
   */
  headNorm?: HeadNorm;
}

/** Callbacks `train()` runs, as `model.fit` does: tfjs `Callback` objects (`CondenseCallback`, ...) or `{ onEpochEnd, ... }` literals. */
export type TrainCallbacks = BaseCallback[] | CustomCallbackArgs | CustomCallbackArgs[];

/** What `train()` accepts: any subset of the config, plus `resume` and the objects that are not settings. */
export interface TrainOptions extends Partial<TrainConfig> {
  outDir: string;
  /**
   * A recipe's settings (`TRAIN_RECIPES`: `fast`, `reference`) for the ones
   * not given here. Not stored: `train.json` holds the settings it expanded to.
   */
  recipe?: string;
  /** Continue the checkpoint in `outDir` up to `epochs` instead of starting a new run. */
  resume?: boolean;
  /**
   * Your own data, in memory: tensors, typed arrays or a tf.data dataset
   * (data/in_memory.ts). Sets `dataset` to `memory`; pass it again to resume.
   */
  data?: TrainData;
  /**
   * Your own model instead of `arch`: a `LipschitzSequential`, or a
   * `tf.Sequential` of Lipschitz layers (sets `arch` to `custom`). Its input
   * must match the data and its output the class count. A new run only: a
   * resumed run loads the checkpoint's model.
   */
  model?: LayersModel;
  /** Run during training, as in `model.fit` (onTrainBegin, onEpochBegin, onBatchBegin, onBatchEnd, onEpochEnd, onTrainEnd). */
  callbacks?: TrainCallbacks;
}

/** Settings that define a run: a resumed run must keep them. */
const RUN_KEYS = [
  'arch',
  'batchSize',
  'lr',
  'lrSchedule',
  'loss',
  'alpha',
  'minMargin',
  'tau',
  'temperature',
  'penalty',
  'alphaMean',
  'offset',
  'seed',
  'limit',
  'dataset',
  'valSplit',
  'layout',
  'scale',
  'inputShape',
  'augment',
  'augmentShift',
  'augmentEpochs',
  'ema',
  'headNorm',
] as const;

/** The training aids' values when a config leaves them out. */
const AID_DEFAULTS = { augment: 'none', augmentShift: DEFAULT_AUGMENT_SHIFT, headNorm: 'spectral' } as const;

/** Settings a resumed run may change: the target, and where and how it runs. */
const SESSION_KEYS = ['epochs', 'dataDir', 'dataPath', 'labelsPath', 'valDataPath', 'valLabelsPath', 'outDir', 'backend', 'workers'] as const;

/** Options of `train()` that are not settings (a recipe name, objects): never written to `train.json`. */
const OBJECT_KEYS = ['recipe', 'resume', 'data', 'model', 'callbacks'] as const;

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The settings among `options`: without `resume`, `data`, `model` and `callbacks`. */
function settingsOf(options: TrainOptions): Partial<TrainConfig> & { outDir: string } {
  const settings: Record<string, unknown> = { ...options };
  for (const key of OBJECT_KEYS) delete settings[key];
  return settings as Partial<TrainConfig> & { outDir: string };
}

/** The loss parameters beyond alpha, minMargin and tau that a run stores (`lip train --temperature` ...). */
const LOSS_EXTRA_KEYS = ['temperature', 'penalty', 'alphaMean', 'offset'] as const;

/** The defaults of loss `name`'s parameters that a config stores (none for an unknown name: `makeLoss` rejects it). */
function lossDefaults(name: string): Partial<TrainConfig> {
  const defaults = (LOSS_PARAMETERS as Record<string, Record<string, number | undefined>>)[name] ?? {};
  return stripUndefined(defaults) as Partial<TrainConfig>;
}

/** Fills defaults and validates: a new run. */
export function resolveTrainConfig(requested: TrainOptions): TrainConfig {
  const options = withRecipe(requested);
  const given = settingsOf(options);
  if (options.model !== undefined) {
    assertArg(
      options.arch === undefined || options.arch === CUSTOM_ARCH,
      () => `'arch' (${JSON.stringify(options.arch)}) and 'model' exclude each other: pass one`,
    );
    given.arch = CUSTOM_ARCH;
  }
  if (options.data !== undefined) {
    assertArg(
      options.dataset === undefined || options.dataset === MEMORY_DATASET,
      () => `'dataset' (${JSON.stringify(options.dataset)}) and 'data' exclude each other: pass one`,
    );
    given.dataset = MEMORY_DATASET;
  } else if (options.dataPath !== undefined && options.dataset === undefined) {
    given.dataset = FILES_DATASET;
  }
  const config: TrainConfig = {
    arch: DEFAULT_ARCH,
    epochs: DEFAULT_EPOCHS,
    batchSize: DEFAULT_TRAIN_BATCH_SIZE,
    lr: DEFAULT_LEARNING_RATE,
    lrSchedule: DEFAULT_LR_SCHEDULE,
    loss: DEFAULT_LOSS,
    alpha: DEFAULT_HKR_ALPHA,
    minMargin: DEFAULT_MIN_MARGIN,
    ...lossDefaults(given.loss ?? DEFAULT_LOSS),
    seed: DEFAULT_SEED,
    dataset: DEFAULT_DATASET,
    valSplit: 'test',
    ...stripUndefined(given),
    outDir: given.outDir,
  };
  validateTrainConfig(config);
  return config;
}

/**
 * The config of a resumed run: the checkpoint's run settings, with this session's
 * target and paths. A run setting given again must equal the stored one.
 */
export function resumeTrainConfig(storedConfig: TrainConfig, requested: TrainOptions): TrainConfig {
  const options = withRecipe(requested);
  const stored = withConfigDefaults(storedConfig);
  assertArg(options.model === undefined, () => `'model' is for a new run: a resumed run continues the checkpoint's model in ${options.outDir}`);
  for (const key of RUN_KEYS) {
    const value = options[key];
    // An aid left out of train.json is off: `--augment none` matches it.
    const storedValue = stored[key] ?? (AID_DEFAULTS as Partial<TrainConfig>)[key];
    if (value !== undefined && JSON.stringify(value) !== JSON.stringify(storedValue)) {
      const origin = requested[key] === undefined ? ` (from recipe ${JSON.stringify(requested.recipe)})` : '';
      throw new InvalidArgumentError(
        `'${key}' is ${JSON.stringify(value)}${origin} but the checkpoint in ${options.outDir} was trained with ` +
          `${JSON.stringify(storedValue)}; a resumed run keeps its settings (drop the option or start a new --out)`,
      );
    }
  }
  const config: TrainConfig = { ...stored };
  delete config.dataDir;
  delete config.backend;
  delete config.workers;
  for (const key of SESSION_KEYS) {
    const value = options[key];
    if (value !== undefined) (config as unknown as Record<string, unknown>)[key] = value;
  }
  validateTrainConfig(config);
  return config;
}

/**
 * A stored config with the run settings added since it was written set to
 * the value that reproduces it (`lrSchedule`: `constant`).
 */
export function withConfigDefaults(stored: TrainConfig): TrainConfig {
  return { ...stored, lrSchedule: stored.lrSchedule ?? DEFAULT_LR_SCHEDULE };
}

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Throws `InvalidArgumentError` quoting the first bad setting. */
export function validateTrainConfig(c: TrainConfig): void {
  assertArg(
    ARCHITECTURES.has(c.arch) || c.arch === CUSTOM_ARCH,
    () => `'arch' must be one of ${[...ARCHITECTURES.keys()].join(', ')}, got ${JSON.stringify(c.arch)}`,
  );
  assertArg(isPositiveInteger(c.epochs), () => `'epochs' must be a positive integer, got ${c.epochs}`);
  assertArg(isPositiveInteger(c.batchSize), () => `'batchSize' must be a positive integer, got ${c.batchSize}`);
  assertArg(isFiniteNumber(c.lr) && c.lr > 0, () => `'lr' must be a positive finite number, got ${c.lr}`);
  assertArg(
    (LR_SCHEDULES as readonly unknown[]).includes(c.lrSchedule),
    () => `'lrSchedule' must be one of ${LR_SCHEDULES.join(', ')}, got ${JSON.stringify(c.lrSchedule)}`,
  );
  assertArg(typeof c.loss === 'string' && c.loss.length > 0, () => `'loss' must be a loss name, got ${JSON.stringify(c.loss)}`);
  assertArg(isFiniteNumber(c.alpha) && c.alpha >= 0, () => `'alpha' must be a finite number >= 0, got ${c.alpha}`);
  assertArg(isFiniteNumber(c.minMargin) && c.minMargin > 0, () => `'minMargin' must be a positive finite number, got ${c.minMargin}`);
  assertArg(c.tau === undefined || (isFiniteNumber(c.tau) && c.tau > 0), () => `'tau' must be a positive finite number, got ${c.tau}`);
  const lossParameters = LOSS_PARAMETERS[c.loss as LossName] as Record<string, unknown> | undefined;
  for (const key of LOSS_EXTRA_KEYS) {
    assertArg(c[key] === undefined || isFiniteNumber(c[key]), () => `'${key}' must be a finite number, got ${c[key]}`);
    assertArg(
      c[key] === undefined || lossParameters === undefined || key in lossParameters,
      () => `'${key}' is not a parameter of loss '${c.loss}' (its parameters: ${Object.keys(lossParameters!).join(', ') || 'none'})`,
    );
  }
  assertArg(
    typeof c.seed === 'number' && Number.isInteger(c.seed) && c.seed >= 0 && c.seed <= 0xffffffff,
    () => `'seed' must be an integer in [0, 4294967295], got ${c.seed}`,
  );
  assertArg(c.limit === undefined || isPositiveInteger(c.limit), () => `'limit' must be a positive integer, got ${c.limit}`);
  assertArg(
    c.workers === undefined || (isPositiveInteger(c.workers) && c.workers <= MAX_WORKERS),
    () => `'workers' must be an integer in [1, ${MAX_WORKERS}], got ${c.workers}`,
  );
  assertArg(
    DATASET_PROVIDERS.has(c.dataset) || c.dataset === FILES_DATASET || c.dataset === MEMORY_DATASET,
    () => `'dataset' must be one of ${[...DATASET_PROVIDERS.keys(), FILES_DATASET, MEMORY_DATASET].join(', ')}, got ${JSON.stringify(c.dataset)}`,
  );
  assertArg(
    c.dataset !== FILES_DATASET || (typeof c.dataPath === 'string' && c.dataPath.length > 0),
    () => `'dataPath' must be a data file or folder (dataset 'files'), got ${JSON.stringify(c.dataPath)}`,
  );
  for (const key of ['dataPath', 'labelsPath', 'valDataPath', 'valLabelsPath'] as const) {
    assertArg(c[key] === undefined || (typeof c[key] === 'string' && c[key]!.length > 0), () => `'${key}' must be a path, got ${JSON.stringify(c[key])}`);
  }
  assertArg(c.layout === undefined || c.layout === 'nhwc' || c.layout === 'nchw', () => `'layout' must be 'nhwc' or 'nchw', got ${JSON.stringify(c.layout)}`);
  assertArg(c.scale === undefined || (isFiniteNumber(c.scale) && c.scale > 0), () => `'scale' must be a positive finite number, got ${c.scale}`);
  assertArg(
    c.inputShape === undefined || (Array.isArray(c.inputShape) && c.inputShape.length === 3 && c.inputShape.every(isPositiveInteger)),
    () => `'inputShape' must be [H, W, C] of positive integers, got ${JSON.stringify(c.inputShape)}`,
  );
  assertArg(typeof c.outDir === 'string' && c.outDir.length > 0, () => `'outDir' must be a folder path, got ${JSON.stringify(c.outDir)}`);
  assertArg(c.valSplit === 'test', () => `'valSplit' must be 'test', got ${JSON.stringify(c.valSplit)}`);
  if (c.augment !== undefined || c.augmentShift !== undefined) assertAugmentationFits(c.augment ?? 'none', c.augmentShift ?? DEFAULT_AUGMENT_SHIFT, c.dataset);
  assertArg(c.augmentEpochs === undefined || (isPositiveInteger(c.augmentEpochs) && (c.augment ?? 'none') !== 'none'), () =>
    (c.augment ?? 'none') === 'none'
      ? `'augmentEpochs' (${c.augmentEpochs}) limits an augmentation to the first epochs, but 'augment' is none: set 'augment' to shift or shift-flip, or leave 'augmentEpochs' out`
      : `'augmentEpochs' must be a positive integer (the last augmented epoch), got ${c.augmentEpochs}`,
  );
  assertArg(c.ema === undefined || (isFiniteNumber(c.ema) && c.ema > 0 && c.ema < 1), () => `'ema' must be a decay in (0, 1), e.g. 0.999, got ${c.ema}`);
  assertArg(
    c.headNorm === undefined || (HEAD_NORMS as readonly unknown[]).includes(c.headNorm),
    () => `'headNorm' must be one of ${HEAD_NORMS.join(', ')}, got ${JSON.stringify(c.headNorm)}`,
  );
  assertArg(
    c.headNorm === undefined || c.headNorm === 'spectral' || c.arch !== CUSTOM_ARCH,
    () => `'headNorm' applies to a named architecture, not to a model passed to train(): build its head yourself`,
  );
}

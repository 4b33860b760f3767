/**
 * @lip/train/node: the Node-only parts of @lip/train. Files and folders
 * (atomic writes, IDX), the built-in datasets (found on disk or downloaded
 * with a checksum) and the table of named datasets, checkpoints
 * (`saveCheckpoint`, `loadCheckpoint`, `fileHandler` for
 * `tf.loadLayersModel(fileHandler('runs/x'))`), and `train()` with its
 * data-parallel worker threads. Importing it also registers the layer
 * classes, as `@lip/train` does.
 *
 * Every public name is listed here (test/api/api_report.test.ts checks it
 * against api/train.api.md).
 *
 * @packageDocumentation
 * @module @lip/train/node
 */
// Files (defined in @lip/core).
export { writeFileAtomic, outputTarget } from './io/atomic';
export type { OutputTarget } from './io/atomic';

// IDX files, the built-in datasets and the table of named datasets.
export { DEFAULT_MAX_IDX_BYTES, encodeIdx, readIdx, writeIdx } from './data/node';
export type { IdxArray, ReadIdxOptions, WriteIdxOptions } from './data/node';
export { DEFAULT_DOWNLOAD_TIMEOUT_MS, downloadFile } from './data/node';
export type { DownloadOptions, DownloadProgress } from './data/node';
export { DEFAULT_SYSTEM_DATA_DIR, datasetCacheDir, findDataset, locateDataset } from './data/node';
export type { LocateOptions } from './data/node';
export { loadDataset, loadDatasetFromDir } from './data/node';
export type { DatasetLimitOptions, LoadDatasetOptions, LoadFromDirOptions } from './data/node';
export { CIFAR10_NAME, CIFAR10_CLASS_NAMES, locateCifar10, loadCifar10 } from './data/node';
export type { Cifar10Options } from './data/node';
export { DATASET_PROVIDERS, registerDataset, datasetProvider } from './data/node';
export type { DatasetProvider } from './data/node';

// train() and its configuration.
export { train } from './training/train';
export type { TrainResult } from './training/train';
export {
  DEFAULT_ARCH,
  DEFAULT_EPOCHS,
  DEFAULT_TRAIN_BATCH_SIZE,
  DEFAULT_LEARNING_RATE,
  DEFAULT_LOSS,
  DEFAULT_SEED,
  DEFAULT_DATASET,
  DEFAULT_LR_SCHEDULE,
  LR_SCHEDULES,
  FILES_DATASET,
  MEMORY_DATASET,
  CUSTOM_ARCH,
  defaultWorkers,
  TRAIN_RECIPES,
  recipeSettings,
} from './training/config';
export type { LrSchedule, RecipeSettings, TrainConfig, TrainCallbacks, TrainOptions, TrainRecipe } from './training/config';
export type { TrainHooks, TrainStartInfo, BatchInfo } from './training/hooks';
export { consoleProgress } from './training/progress';
export { dataOptionsFor, loadTrainData } from './training/train_data';
export type { TrainDataSets } from './training/train_data';

// Checkpoints and loading models from files.
export { MODEL_FILE, WEIGHTS_FILE, fileHandler, fileRouter } from './training/file-handler';
export { TRAIN_STATE_FILE, hasCheckpoint, saveCheckpoint, readTrainState, loadCheckpoint } from './training/checkpoint';
export type { EpochRecord, TrainState } from './training/checkpoint';

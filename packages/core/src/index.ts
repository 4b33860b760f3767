/**
 * @lip/core: the tfjs-free foundations every other package builds on. Nothing
 * here imports TensorFlow.js, so @lip/verify's reader, bound and certificates
 * (and @lip/runtime) load without it. `portable.ts` is the browser-safe part.
 */
export { LipError, InvalidArgumentError, DataError, ModelError, ModelTooLargeError, assertArg } from './errors';
export { writeFileAtomic, outputTarget, atomicTempOwner, processAlive, removeDeadProcessTemps, fsyncDir } from './atomic';
export type { OutputTarget } from './atomic';
export { crc32 } from './crc32';
export {
  acquireOutputLock, withOutputLock, OutputInUseError, OutputLockLostError, LOCK_SUFFIX, DEFAULT_LOCK_STALE_MS, DEFAULT_LOCK_UPDATE_MS,
} from './lock';
export type { OutputLock, OutputLockOptions } from './lock';
export {
  DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_ARRAY_BYTES, DEFAULT_MAX_NPZ_TOTAL_BYTES, DEFAULT_MAX_NPZ_ENTRIES, DEFAULT_MAX_IMAGE_FILES,
  DEFAULT_MAX_IMAGE_PIXELS, IDX_UBYTE, IDX_DTYPES, DEFAULT_MAX_IDX_BYTES, MAX_IDX_RANK, DEFAULT_IDX_FIX, DEFAULT_ARRAY_FIX,
  CIFAR10_BIN_FOLDER, CIFAR10_META_FILE, CIFAR10_RECORD_BYTES, CIFAR10_TEST_FILE, MAX_CLASSES, ARRAY_PAIR_NAMES, encodeIdx, readIdx,
  readIdxArray, writeIdx, decodeNpy, readNpy, readNpz, decodeImage, listImageFolder, readImageFolder, findCifar10, readCifar10,
  arraysToLabeledImages, readLabeledData,
} from './data';
export type {
  DType, NdArray, NdData, IdxArray, IdxData, ReadIdxOptions, WriteIdxOptions, ReadArrayOptions, NpzContents, ReadNpzOptions,
  DecodedImage, ImageFolderSample, ReadImageFolderOptions, ReadCifar10Options, ArrayLayout, DataFormat, DataSplit, ImageArrays,
  LabeledImages, LabeledReadOptions, ReadLabeledDataOptions,
} from './data';
export { DEFAULT_EPSILONS } from './constants';
export { mulberry32 } from './random';
export type { Rng } from './random';
export {
  BOUND_SAFETY_MARGIN, roundoffGamma, emptyBand, denseToBand, bandMatVec, lanczosLambdaMax, shiftedBandCholesky, gershgorinBound,
  symmetricLambdaMaxUpperBound, matrixSpectralNormUpperBound, convSpectralNormUpperBound, circularConvNormUpperBound,
} from './linalg';
export type { SymmetricBand, LanczosEstimate, LambdaMaxBound, FrequencyLambdaMax } from './linalg';
export { headRowDistances } from './certificates/head';
export type { HeadRows } from './certificates/head';
export {
  DATASETS, DATASET_NAMES, DATASET_SPLITS, FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, assertDatasetSplit, datasetSpec, splitFiles,
  DEFAULT_DOWNLOAD_TIMEOUT_MS, downloadFile, DEFAULT_SYSTEM_DATA_DIR, corruptFileFix, datasetCacheDir, findDataset, findIdxFile,
  folderProblem, locateDataset, IMAGE_HEIGHT, IMAGE_WIDTH, NUM_CLASSES, loadDataset, loadDatasetFromDir,
} from './datasets';
export type {
  DatasetName, DatasetSpec, DatasetSplit, SplitFiles, DownloadOptions, DownloadProgress, LocateOptions, Dataset, LoadDatasetOptions,
  LoadFromDirOptions, LoadOptions,
} from './datasets';
export {
  WorkerStuckError, workerSilenceBound, formatDuration, silenceBoundHint, SilenceTimer, stuckWorkerTestHook, blockForever, terminateWithin,
  WORKER_SILENCE_FLOOR_MS, WORKER_SILENCE_PER_ROW_MS, WORKER_TIMEOUT_ENV, STUCK_WORKER_TEST_ENV,
} from './worker_watchdog';

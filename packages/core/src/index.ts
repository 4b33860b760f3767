/**
 * @lip/core: the tfjs-free foundations every other package builds on. Nothing
 * here imports TensorFlow.js, so @lip/verify's reader, bound and certificates
 * (and @lip/runtime) load without it. `portable.ts` is the browser-safe part.
 *
 * @packageDocumentation
 * @module @lip/core
 */
export { LipError, InvalidArgumentError, DataError, ModelError, ModelTooLargeError, assertArg } from './errors';
export { ENGINE_ENV_VAR, ENGINE_POLICIES, EngineUnavailableError, applyEnv, engineLabel, inNode, loadEngine, requireEngine } from './engine';
export type { EngineChoice, EngineLoadOptions, EngineName, EnginePolicy, EngineRequire, LoadedEngine, OrtModule, OrtSession, OrtTensor } from './engine';
export { writeFileAtomic, outputTarget, atomicTempOwner, processAlive, removeDeadProcessTemps, fsyncDir } from './atomic';
export type { OutputTarget, WriteFileAtomicOptions } from './atomic';
export { crc32 } from './crc32';
export { acquireOutputLock, withOutputLock, OutputInUseError, OutputLockLostError, DEFAULT_LOCK_STALE_MS, DEFAULT_LOCK_UPDATE_MS } from './lock';
export type { OutputLock, OutputLockOptions } from './lock';
export {
  DEFAULT_MAX_ELEMENTS,
  DEFAULT_MAX_ARRAY_BYTES,
  DEFAULT_MAX_NPZ_TOTAL_BYTES,
  DEFAULT_MAX_NPZ_ENTRIES,
  DEFAULT_MAX_IMAGE_FILES,
  DEFAULT_MAX_IMAGE_PIXELS,
  IDX_UBYTE,
  IDX_DTYPES,
  DEFAULT_MAX_IDX_BYTES,
  MAX_IDX_RANK,
  DEFAULT_IDX_FIX,
  CIFAR10_BIN_FOLDER,
  CIFAR10_META_FILE,
  CIFAR10_TEST_FILE,
  MAX_CLASSES,
  encodeIdx,
  readIdx,
  readIdxArray,
  writeIdx,
  readNpy,
  readNpz,
  listImageFolder,
  readImageFolder,
  findCifar10,
  readCifar10,
  arraysToLabeledImages,
  readLabeledData,
} from './data';
export type {
  DType,
  NdArray,
  NdData,
  IdxArray,
  IdxData,
  ReadIdxOptions,
  WriteIdxOptions,
  ReadArrayOptions,
  NpzContents,
  ReadNpzOptions,
  ImageFolderSample,
  ReadImageFolderOptions,
  ReadCifar10Options,
  ArrayLayout,
  ArrayPairContext,
  DataFormat,
  DataSplit,
  ImageArrays,
  LabeledImages,
  LabeledReadOptions,
  ReadLabeledDataOptions,
} from './data';
export { DEFAULT_EPSILONS } from './constants';
export { mulberry32 } from './random';
export type { Rng } from './random';
export {
  BOUND_SAFETY_MARGIN,
  roundoffGamma,
  emptyBand,
  denseToBand,
  bandMatVec,
  lanczosLambdaMax,
  shiftedBandCholesky,
  gershgorinBound,
  symmetricLambdaMaxUpperBound,
  lambdaMaxBelow,
  matrixSpectralNormUpperBound,
  convSpectralNormUpperBound,
  circularConvNormUpperBound,
  sllDenseNormSquaredUpperBound,
  sllConvNormSquaredUpperBound,
  sllLipschitzFactor,
} from './linalg';
export type { SymmetricBand, LanczosEstimate, LambdaMaxBound, FrequencyLambdaMax } from './linalg';
export { headRowDistances } from './certificates/head';
export type { HeadRows } from './certificates/head';
export {
  CERTIFICATE_ROUNDING_MARGIN,
  assertEpsilons,
  assertLipschitz,
  binaryCertificates,
  certifiedRobustAccuracy,
  certify,
  headAwareCertificates,
  headAwareCertificatesFromDistances,
  multiclassCertificates,
  predictClasses,
} from './certificates/logits';
export type { CertificateKind, Certificates, CertifiedHead, CertifyOptions, HeadDistances } from './certificates/logits';
export {
  DATASETS,
  DATASET_NAMES,
  DATASET_SPLITS,
  FASHION_MNIST_CLASS_NAMES,
  MNIST_CLASS_NAMES,
  assertDatasetSplit,
  datasetSpec,
  splitFiles,
  DEFAULT_DOWNLOAD_TIMEOUT_MS,
  downloadFile,
  DEFAULT_SYSTEM_DATA_DIR,
  corruptFileFix,
  datasetCacheDir,
  findDataset,
  findIdxFile,
  folderProblem,
  locateDataset,
  IMAGE_HEIGHT,
  IMAGE_WIDTH,
  NUM_CLASSES,
  loadDataset,
  loadDatasetFromDir,
} from './datasets';
export type {
  DatasetName,
  DatasetSpec,
  DatasetSplit,
  SplitFiles,
  DownloadOptions,
  DownloadProgress,
  LocateOptions,
  Dataset,
  LoadDatasetOptions,
  LoadFromDirOptions,
  DatasetLimitOptions,
} from './datasets';
export {
  WorkerStuckError,
  workerSilenceBound,
  silenceBoundHint,
  SilenceTimer,
  stuckWorkerTestHook,
  blockForever,
  terminateWithin,
  WORKER_TIMEOUT_ENV,
} from './worker_watchdog';
export { createProgress, progressMode, byteCounts, DEFAULT_PROGRESS_THROTTLE_MS } from './progress';
export type { Progress, ProgressInfo, ProgressLines, ProgressMode, ProgressOptions, ProgressStream } from './progress';

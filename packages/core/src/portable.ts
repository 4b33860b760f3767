/**
 * The part of @lip/core that runs in browsers (no `fs`, no `worker_threads`):
 * typed errors, the seeded generator, certified float64 linear algebra, the
 * head-aware certificate's row distances, shared defaults and the names of
 * the built-in datasets.
 * @lip/train's package.json `browser` field maps `@lip/core` to this file, so
 * its browser-safe entry bundles with `esbuild --platform=browser`. Everything here is also in the main entry.
 */
export { LipError, InvalidArgumentError, DataError, ModelError, ModelTooLargeError, assertArg } from './errors';
export { DEFAULT_EPSILONS } from './constants';
export { mulberry32 } from './random';
export type { Rng } from './random';
export {
  BOUND_SAFETY_MARGIN, roundoffGamma, emptyBand, denseToBand, bandMatVec, lanczosLambdaMax, shiftedBandCholesky, gershgorinBound,
  symmetricLambdaMaxUpperBound, matrixSpectralNormUpperBound, convSpectralNormUpperBound, circularConvNormUpperBound,
} from './linalg';
export type { SymmetricBand, LanczosEstimate, LambdaMaxBound } from './linalg';
export { headRowDistances } from './certificates/head';
export type { HeadRows } from './certificates/head';
export {
  DATASETS, DATASET_NAMES, DATASET_SPLITS, FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, assertDatasetSplit, datasetSpec, splitFiles,
} from './datasets/names';
export type { DatasetName, DatasetSpec, DatasetSplit, SplitFiles } from './datasets/names';

/**
 * The part of @lip/core that runs in browsers (no `fs`, no `worker_threads`):
 * typed errors, the seeded generator, certified float64 linear algebra,
 * certificates from logits (with the head-aware row distances), shared
 * defaults and the names of the built-in datasets.
 * It is the `browser` condition of @lip/core's package.json `exports`, so
 * @lip/train's browser-safe entry bundles with `esbuild --platform=browser`. Everything here is also in the main entry.
 */
export { LipError, InvalidArgumentError, DataError, ModelError, ModelTooLargeError, assertArg } from './errors';
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
export type { SymmetricBand, LanczosEstimate, LambdaMaxBound } from './linalg';
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
} from './datasets/names';
export type { DatasetName, DatasetSpec, DatasetSplit, SplitFiles } from './datasets/names';

/**
 * @lip/train: 1-Lipschitz layers, HKR losses, callbacks and `fit` on
 * TensorFlow.js. This entry is browser-safe (it bundles with
 * `esbuild --bundle --platform=browser`); the Node-only parts (files,
 * datasets on disk and their downloads, checkpoints, `train()` and its
 * worker threads, `fileHandler` for `tf.loadLayersModel`) are in
 * `@lip/train/node`.
 *
 * Every public name is listed here (test/api/api_report.test.ts checks it
 * against api/train.api.md); the rest of `src/` is internal.
 *
 * @packageDocumentation
 * @module @lip/train
 */
// Errors (defined in @lip/core).
export { LipError, InvalidArgumentError, DataError, ModelError, ModelTooLargeError, assertArg } from './errors';

// Defaults.
export {
  DEFAULT_NITER_BJORCK,
  DEFAULT_BETA_BJORCK,
  DEFAULT_NITER_SPECTRAL,
  DEFAULT_NITER_SPECTRAL_INIT,
  CONVERGE_MAX_ITER,
  CONVERGE_TOL,
  DEFAULT_HKR_ALPHA,
  DEFAULT_MIN_MARGIN,
  DEFAULT_EPSILONS,
  MAX_WORKERS,
} from './constants';

// Backends.
export { selectBackend, BACKEND_PREFERENCES, installWasmKernels, wasmKernelsInstalled } from './backend';
export type { BackendPreference, SelectBackendOptions, SelectedBackend, InstallWasmKernelsOptions, KernelChoice } from './backend';

// Normalizers: pure maths of the constraints, and certified norm bounds (from @lip/core).
export { bjorckOrthonormalize, bjorckOrthonormalizeToConvergence } from './normalizers';
export type { BjorckConvergeOptions, BjorckConvergeResult, ConvergeOptions } from './normalizers';
export { powerIteration, spectralNormalize, powerIterationToConvergence } from './normalizers';
export type { PowerIterationResult, PowerIterationConvergeResult } from './normalizers';
export { convCorrectionFactor, convPowerIteration, convOperatorNorm, convPowerIterationToConvergence } from './normalizers';
export type { ConvPadding, ConvPowerIterationResult, ConvPowerIterationConvergeResult } from './normalizers';
export { matrixSpectralNormUpperBound, convSpectralNormUpperBound } from './normalizers';

// Functional ops.
export {
  groupSort,
  groupSort2,
  fullSort,
  maxMin,
  scaledAvgPool2d,
  scaledL2NormPool2d,
  scaledGlobalL2NormPool2d,
  invertibleDownSampling,
  invertibleUpSampling,
} from './functional';

// Layers and the LipschitzSequential model (importing this module registers every class).
export { isLipschitzLayer, isLipschitzLinear } from './layers';
export type { EffectiveKernelOptions, LipschitzLayer, LipschitzLinear, VanillaExportOptions } from './layers';
export { LipschitzLinearBase, LipschitzDenseBase, LipschitzConv2DBase, LipschitzActivationBase } from './layers';
export type { LipschitzLinearArgs, LipschitzDenseArgs, LipschitzConv2DArgs, LipPadding } from './layers';
export { SpectralDense, SpectralConv2D, FrobeniusDense, FrobeniusConv2D, OrthogonalConv2D, DEFAULT_NITER_BCOP } from './layers';
export type { SpectralDenseArgs, SpectralConv2DArgs, ConvNormalization, FrobeniusDenseArgs, FrobeniusConv2DArgs, OrthogonalConv2DArgs } from './layers';
export { OrthogonalConv2DTranspose } from './layers';
export type { OrthogonalConv2DTransposeArgs } from './layers';
export { GroupSort, GroupSort2, FullSort, MaxMin } from './layers';
export type { GroupSortArgs, GroupSort2Args, FullSortArgs, MaxMinArgs } from './layers';
export { ScaledL2NormPool2D, ScaledAvgPool2D, ScaledGlobalL2NormPool2D, InvertibleDownSampling } from './layers';
export type { ScaledPool2DArgs, ScaledGlobalL2NormPool2DArgs, InvertibleDownSamplingArgs } from './layers';
export { LayerCentering, BatchCentering, DEFAULT_CENTERING_MOMENTUM, Householder, DEFAULT_HOUSEHOLDER_THETA } from './layers';
export type { LayerCenteringArgs, BatchCenteringArgs, HouseholderArgs } from './layers';
export { AOLDense, AOLConv2D, SLLBase, SLLDense, SLLConv2D, LipResidual } from './layers';
export type { AOLDenseArgs, AOLConv2DArgs, SLLArgs, SLLDenseArgs, SLLConv2DArgs, SLLWeights, LipResidualArgs } from './layers';
export { LipschitzSequential, withConstraintsHeld, lipLayers } from './layers';
export type { LipschitzSequentialArgs, LipLogger } from './layers';

// Losses.
export { krMulticlass, hingeMulticlass, hkrMulticlass, krBinary, hingeMarginBinary, hkrBinary, tauCategoricalCrossentropy } from './losses';
export { lseHkrMulticlass, softHkrMulticlass, softHkrTemperature, softHkrNextMean, marginCategoricalCrossentropy } from './losses';
export { makeLoss, LOSS_NAMES, LOSS_PARAMETERS } from './losses';
export type { LipLoss, LossName, LossOptions, LossFunction, LossParameter, LossState, StepStatistics, ShareLossFunction, BatchStatistics } from './losses';

// Metrics.
export { accuracy, certificates, certifiedRobustAccuracyFromTensors } from './metrics';

// Data in memory, batches and seeded shuffles; the built-in datasets' names.
export { DATASETS, DATASET_NAMES, DATASET_SPLITS, FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES } from './data';
export type { DatasetName, DatasetSpec, DatasetSplit, Dataset } from './data';
export { toDataset, MAX_DATASET_SAMPLES } from './data';
export type { ArrayData, ImagesData, TfDatasetLike, TrainData, TrainDataSource } from './data';
export { batchIndices, onePerClass, sliceBatch, mulberry32, randomPermutation, shuffle } from './data';
export type { SampleBatch, Rng } from './data';

// Architectures.
export { buildModel, ARCHITECTURES, HEAD_NORMS, registerArchitecture } from './models';
export type { BuildModelOptions, Architecture, ArchitectureOptions, HeadNorm } from './models';
export { AUGMENTATIONS, DEFAULT_AUGMENT_SHIFT, augmentRows } from './data/augment';
export type { Augmentation, AugmentSpec } from './data/augment';

// Callbacks.
export { CondenseCallback, MonitorCallback, LossParamScheduler, StopOnNonFiniteLoss, NonFiniteLossError } from './callbacks';
export type { CondenseCallbackArgs, MonitorCallbackArgs, MonitorRecord, LayerSpectrum, LossParamSchedulerArgs, NonFiniteLossContext } from './callbacks';

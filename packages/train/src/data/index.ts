/**
 * Datasets, the browser-safe part: the names and class names of the built-in
 * datasets, your own data in memory (`toDataset`), batching and seeded
 * shuffles. Reading files and downloading are in `./node.ts` (`@lip/train/node`).
 */
export { DATASETS, DATASET_NAMES, DATASET_SPLITS, FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, splitFiles } from './datasets';
export type { DatasetName, DatasetSpec, DatasetSplit, SplitFiles } from './datasets';
export type { Dataset } from './load';
export { toDataset, classCount, MAX_DATASET_SAMPLES } from './in_memory';
export type { ArrayData, ImagesData, TfDatasetLike, TrainData, TrainDataSource } from './in_memory';
export { batchIndices, onePerClass, sliceBatch } from './batches';
export type { SampleBatch } from './batches';
export { mulberry32, randomPermutation, shuffle } from './random';
export type { Rng } from './random';

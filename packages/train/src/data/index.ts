/** Datasets: IDX files, lookup and download, batching and seeded shuffles. */
export { DEFAULT_MAX_IDX_BYTES, encodeIdx, readIdx, writeIdx } from './idx';
export type { IdxArray, ReadIdxOptions, WriteIdxOptions } from './idx';
export { DATASETS, DATASET_NAMES, DATASET_SPLITS, FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, splitFiles } from './datasets';
export type { DatasetName, DatasetSpec, DatasetSplit, SplitFiles } from './datasets';
export { DEFAULT_DOWNLOAD_TIMEOUT_MS, downloadFile } from './download';
export type { DownloadOptions, DownloadProgress } from './download';
export { DEFAULT_SYSTEM_DATA_DIR, datasetCacheDir, findDataset, locateDataset } from './locate';
export type { LocateOptions } from './locate';
export { loadDataset, loadDatasetFromDir } from './load';
export type { Dataset, LoadDatasetOptions, LoadFromDirOptions, LoadOptions } from './load';
export { batchIndices, onePerClass, sliceBatch } from './batches';
export type { SampleBatch } from './batches';
export { mulberry32, randomPermutation, shuffle } from './random';
export type { Rng } from './random';

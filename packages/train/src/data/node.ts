/**
 * Datasets, the Node part: IDX files, finding and downloading the built-in
 * datasets (Fashion-MNIST, MNIST, CIFAR-10), and the table of named datasets.
 */
export { DEFAULT_MAX_IDX_BYTES, encodeIdx, readIdx, writeIdx } from './idx';
export type { IdxArray, ReadIdxOptions, WriteIdxOptions } from './idx';
export { DEFAULT_DOWNLOAD_TIMEOUT_MS, downloadFile } from './download';
export type { DownloadOptions, DownloadProgress } from './download';
export { DEFAULT_SYSTEM_DATA_DIR, datasetCacheDir, findDataset, locateDataset } from './locate';
export type { LocateOptions } from './locate';
export { loadDataset, loadDatasetFromDir } from './load';
export type { DatasetLimitOptions, LoadDatasetOptions, LoadFromDirOptions } from './load';
export { CIFAR10_NAME, CIFAR10_CLASS_NAMES, CIFAR10_MIRROR, CIFAR10_ARCHIVE, CIFAR10_MD5, locateCifar10, loadCifar10 } from './cifar10';
export type { Cifar10Options } from './cifar10';
export { DATASET_PROVIDERS, registerDataset, datasetProvider } from './registry';
export type { DatasetProvider } from './registry';
export { extractTarGz } from './tar';

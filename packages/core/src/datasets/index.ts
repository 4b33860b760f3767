/**
 * The built-in datasets (Fashion-MNIST, MNIST): their names and files
 * (`names.ts`, browser-safe), finding them on disk or downloading them with
 * a checksum (`locate.ts`, `download.ts`), and loading a split (`load.ts`).
 */
export { DATASETS, DATASET_NAMES, DATASET_SPLITS, FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, assertDatasetSplit, datasetSpec, splitFiles } from './names';
export type { DatasetName, DatasetSpec, DatasetSplit, SplitFiles } from './names';
export { DEFAULT_DOWNLOAD_TIMEOUT_MS, downloadFile } from './download';
export type { DownloadOptions, DownloadProgress } from './download';
export { DEFAULT_SYSTEM_DATA_DIR, corruptFileFix, datasetCacheDir, findDataset, findIdxFile, folderProblem, locateDataset } from './locate';
export type { LocateOptions } from './locate';
export { IMAGE_HEIGHT, IMAGE_WIDTH, NUM_CLASSES, loadDataset, loadDatasetFromDir } from './load';
export type { Dataset, LoadDatasetOptions, LoadFromDirOptions, DatasetLimitOptions } from './load';

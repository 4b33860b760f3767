/** The datasets `lip` knows live in @lip/core (`datasets/names.ts`, tfjs-free); re-exported for train's own modules. */
export { DATASETS, DATASET_NAMES, DATASET_SPLITS, FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, assertDatasetSplit, datasetSpec, splitFiles } from '@lip/core';
export type { DatasetName, DatasetSpec, DatasetSplit, SplitFiles } from '@lip/core';

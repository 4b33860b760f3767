/** Loading Fashion-MNIST/MNIST splits lives in @lip/core (`datasets/load.ts`, tfjs-free); re-exported here. */
export { IMAGE_HEIGHT, IMAGE_WIDTH, NUM_CLASSES, loadDataset, loadDatasetFromDir } from '@lip/core';
export type { Dataset, LoadDatasetOptions, LoadFromDirOptions, DatasetLimitOptions } from '@lip/core';

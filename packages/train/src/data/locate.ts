/** Finding a dataset on disk or downloading it lives in @lip/core (`datasets/locate.ts`, tfjs-free); re-exported here. */
export { DEFAULT_SYSTEM_DATA_DIR, corruptFileFix, datasetCacheDir, findDataset, findIdxFile, locateDataset } from '@lip/core';
export type { LocateOptions } from '@lip/core';

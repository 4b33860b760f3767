/** Checksummed downloads live in @lip/core (`datasets/download.ts`, tfjs-free); re-exported here. */
export { DEFAULT_DOWNLOAD_TIMEOUT_MS, downloadFile } from '@lip/core';
export type { DownloadOptions, DownloadProgress } from '@lip/core';

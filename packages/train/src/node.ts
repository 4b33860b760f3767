/**
 * @lip/train/node: the Node-only parts of @lip/train. Files and folders
 * (atomic writes, IDX, `.tar.gz`), the built-in datasets (found on disk or
 * downloaded with a checksum) and the table of named datasets, checkpoints
 * (`saveCheckpoint`, `loadCheckpoint`, `fileHandler` for
 * `tf.loadLayersModel(fileHandler('runs/x'))`), and `train()` with its
 * data-parallel worker threads. Importing it also registers the layer
 * classes, as `@lip/train` does.
 */
export { writeFileAtomic, outputTarget, atomicTempOwner, processAlive, removeDeadProcessTemps, fsyncDir } from './io/atomic';
export type { OutputTarget } from './io/atomic';
export * from './data/node';
export * from './training';

/**
 * @lip/train: 1-Lipschitz layers, HKR losses, callbacks and `fit` on
 * TensorFlow.js. This entry is browser-safe (it bundles with
 * `esbuild --bundle --platform=browser`); the Node-only parts (files,
 * datasets on disk and their downloads, checkpoints, `train()` and its
 * worker threads, `fileHandler` for `tf.loadLayersModel`) are in
 * `@lip/train/node`.
 */
export { LipError, InvalidArgumentError, DataError, ModelError, ModelTooLargeError, assertArg } from './errors';
export * from './constants';
export * from './backend';
export * from './normalizers';
export * from './functional';
export * from './layers';
export * from './losses';
export * from './metrics';
export * from './data';
export * from './models';
export * from './callbacks';

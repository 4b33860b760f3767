/**
 * @lip/train: 1-Lipschitz layers, HKR losses and training on TensorFlow.js.
 */
export * from './errors';
export * from './constants';
export * from './io/atomic';
export * from './backend';
export * from './normalizers';
export * from './functional';
export * from './layers';
export * from './losses';
export * from './metrics';
export * from './data';
export * from './models';
export * from './training';

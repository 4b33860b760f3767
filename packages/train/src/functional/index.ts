/**
 * Pure Lipschitz ops on tfjs tensors (channels last): the GroupSort family,
 * MaxMin, scaled poolings and invertible down-sampling, with gradients that
 * are fast on tfjs-backend-wasm.
 */
export { groupSort, groupSort2, fullSort } from './group_sort';
export { maxMin } from './max_min';
export { scaledAvgPool2d, scaledL2NormPool2d, scaledGlobalL2NormPool2d } from './pooling';
export { invertibleDownSampling, invertibleUpSampling } from './downsampling';

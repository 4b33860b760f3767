/**
 * Metrics of 1-Lipschitz classifiers on tensors: accuracy, KR (the loss
 * term, reused as a metric), certificates and certified robust accuracy (the
 * certificate formulas are @lip/core's, as `lip verify` computes them).
 */
export { accuracy } from './accuracy';
export { krMulticlass } from '../losses/multiclass';
export { certificates, certifiedRobustAccuracyFromTensors } from './certificates';

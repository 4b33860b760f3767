/**
 * Metrics of 1-Lipschitz classifiers: accuracy, KR (the loss term, reused as
 * a metric), certificates and certified robust accuracy, on tensors and on
 * plain arrays.
 */
export { accuracy } from './accuracy';
export { krMulticlass } from '../losses/multiclass';
export { certificates, certifiedRobustAccuracy } from './certificates';
export {
  certificatesFromLogits,
  certifiedRobustAccuracyFromLogits,
  predictedClassesFromLogits,
} from './certificates_array';

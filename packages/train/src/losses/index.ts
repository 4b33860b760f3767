/**
 * Losses of 1-Lipschitz classifiers: KR, hinge and HKR (multiclass and
 * binary), TauCategoricalCrossentropy, LseHKR, SoftHKR, the offset
 * cross-entropy, and the table of losses by name.
 */
export { krMulticlass, hingeMulticlass, hkrMulticlass } from './multiclass';
export { krBinary, hingeMarginBinary, hkrBinary } from './binary';
export { tauCategoricalCrossentropy } from './tau_cce';
export { lseHkrMulticlass } from './lse_hkr';
export { softHkrMulticlass, softHkrNextMean, softHkrTemperature } from './soft_hkr';
export { marginCategoricalCrossentropy } from './margin_cce';
export { makeLoss, makeShareLoss, LOSS_FACTORIES, LOSS_NAMES, LOSS_PARAMETERS } from './factory';
export type { LipLoss, LossName, LossOptions, LossFunction, LossFactory, LossParameter, LossState, ShareLossFunction, StepStatistics } from './factory';
export {
  accuracyShare,
  batchStatistics,
  hingeMulticlassShare,
  hkrMulticlassShare,
  krMulticlassShare,
  lseHkrMulticlassShare,
  marginCategoricalCrossentropyShare,
  meanAbsLogitShare,
  softHkrMulticlassShare,
  tauCategoricalCrossentropyShare,
} from './shares';
export type { BatchStatistics } from './shares';

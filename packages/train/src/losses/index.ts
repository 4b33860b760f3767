/**
 * Losses of 1-Lipschitz classifiers: KR, hinge and HKR (multiclass and
 * binary), TauCategoricalCrossentropy, and the table of losses by name.
 */
export { krMulticlass, hingeMulticlass, hkrMulticlass } from './multiclass';
export { krBinary, hingeMarginBinary, hkrBinary } from './binary';
export { tauCategoricalCrossentropy } from './tau_cce';
export { makeLoss, makeShareLoss, LOSS_FACTORIES, LOSS_NAMES, LOSS_PARAMETERS } from './factory';
export type { LipLoss, LossName, LossOptions, LossFunction, LossFactory, LossParameter, ShareLossFunction } from './factory';
export { accuracyShare, batchStatistics, hingeMulticlassShare, hkrMulticlassShare, krMulticlassShare, tauCategoricalCrossentropyShare } from './shares';
export type { BatchStatistics } from './shares';

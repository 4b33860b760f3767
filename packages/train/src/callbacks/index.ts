/**
 * Callbacks for `model.fit`, `fitDataset` and `train()`, after deel-lip's:
 * `CondenseCallback`, `MonitorCallback`, `LossParamScheduler`; and the
 * divergence guard `StopOnNonFiniteLoss` (LipschitzSequential's fit adds it).
 */
export { CondenseCallback } from './condense';
export type { CondenseCallbackArgs } from './condense';
export { MonitorCallback } from './monitor';
export type { MonitorCallbackArgs, MonitorRecord, LayerSpectrum } from './monitor';
export { LossParamScheduler, interpolate } from './loss_param_scheduler';
export type { LossParamSchedulerArgs } from './loss_param_scheduler';
export { StopOnNonFiniteLoss, NonFiniteLossError, nonFiniteLossError } from './non_finite_loss';
export type { NonFiniteLossContext } from './non_finite_loss';
export { standardizeCallbacks } from './standardize';
export { singularValues } from './singular_values';

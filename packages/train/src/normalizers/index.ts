/**
 * Pure maths of the Lipschitz constraints: Björck orthonormalization, power
 * iteration and spectral normalization, convolution operator norms, and
 * guaranteed norm upper bounds (`conv_norm_bound.ts`).
 */
export { bjorckOrthonormalize, bjorckOrthonormalizeToConvergence } from './bjorck';
export type { BjorckConvergeOptions, BjorckConvergeResult } from './bjorck';
export type { ConvergeOptions } from './validate';
export { powerIteration, spectralNormalize, powerIterationToConvergence, l2Normalize } from './power_iteration';
export type { PowerIterationResult, PowerIterationConvergeResult } from './power_iteration';
export { conv2dAdjoint, conv2dFilterGradient, convGeometry } from './conv_adjoint';
export type { ConvPadding, ConvAdjointGeometry } from './conv_adjoint';
export { convCorrectionFactor, convPowerIteration, convOperatorNorm, convPowerIterationToConvergence } from './conv_operator_norm';
export type { ConvPowerIterationResult, ConvPowerIterationConvergeResult } from './conv_operator_norm';
export { matrixSpectralNormUpperBound, convSpectralNormUpperBound } from './conv_norm_bound';

/** Certified float64 linear algebra: guaranteed spectral-norm upper bounds of matrices and convolutions (`conv_norm_bound.ts`). */
export {
  BOUND_SAFETY_MARGIN,
  roundoffGamma,
  emptyBand,
  denseToBand,
  bandMatVec,
  lanczosLambdaMax,
  shiftedBandCholesky,
  gershgorinBound,
  symmetricLambdaMaxUpperBound,
  lambdaMaxBelow,
  matrixSpectralNormUpperBound,
  convSpectralNormUpperBound,
  circularConvNormUpperBound,
} from './conv_norm_bound';
export { sllDenseNormSquaredUpperBound, sllConvNormSquaredUpperBound, sllLipschitzFactor } from './sll_bound';
export type { SymmetricBand, LanczosEstimate, LambdaMaxBound, FrequencyLambdaMax } from './conv_norm_bound';

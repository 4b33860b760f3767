/**
 * Guaranteed spectral-norm upper bounds in float64 (Lanczos + Cholesky
 * certificate, Sedghi's circular-convolution bound). They live in @lip/core
 * (`linalg/conv_norm_bound.ts`), so @lip/verify's bound loads no training
 * code; re-exported here for train's own modules and users.
 */
export {
  BOUND_SAFETY_MARGIN, roundoffGamma, emptyBand, denseToBand, bandMatVec, lanczosLambdaMax, shiftedBandCholesky, gershgorinBound,
  symmetricLambdaMaxUpperBound, matrixSpectralNormUpperBound, convSpectralNormUpperBound, circularConvNormUpperBound,
} from '@lip/core';
export type { SymmetricBand, LanczosEstimate, LambdaMaxBound } from '@lip/core';

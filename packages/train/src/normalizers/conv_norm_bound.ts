/**
 * Guaranteed spectral-norm upper bounds in float64 (Lanczos + Cholesky
 * certificate, Sedghi's circular-convolution bound). They live in @lip/core
 * (`linalg/conv_norm_bound.ts`), so @lip/verify's bound loads no training
 * code; the two a layer's bound needs are re-exported here for train's own
 * modules and users (the building blocks are @lip/core's).
 */
export { matrixSpectralNormUpperBound, convSpectralNormUpperBound } from '@lip/core';

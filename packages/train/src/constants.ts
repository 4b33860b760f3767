/** Defaults, in one place (deel-torchlip names). */

/** Björck iterations per training step. */
export const DEFAULT_NITER_BJORCK = 15;
/** Björck step size: w <- (1 + beta) w - beta w w^T w. */
export const DEFAULT_BETA_BJORCK = 0.5;
/** Power iterations per training step (the vector persists across steps). */
export const DEFAULT_NITER_SPECTRAL = 3;
/** Power iterations when a layer is built. */
export const DEFAULT_NITER_SPECTRAL_INIT = 10;
/** Iteration cap when normalizing to convergence (export, vanillaExport). */
export const CONVERGE_MAX_ITER = 2000;
/** Relative change below which converged iterations stop. */
export const CONVERGE_TOL = 1e-7;

/** HKR defaults of the reference notebook. */
export const DEFAULT_HKR_ALPHA = 100;
export const DEFAULT_MIN_MARGIN = 0.25;

/**
 * LseHKR defaults: the deel-torchlip Fashion-MNIST notebook's (issue 16;
 * `LseHKRMulticlassLoss`'s own defaults are alpha 1, temperature 1).
 */
export const DEFAULT_LSE_HKR_ALPHA = 0.9;
export const DEFAULT_LSE_HKR_MIN_MARGIN = 1;
export const DEFAULT_LSE_HKR_TEMPERATURE = 10;
export const DEFAULT_LSE_HKR_PENALTY = 1;

/** SoftHKR defaults: deel-torchlip `SoftHKRMulticlassLoss`'s. */
export const DEFAULT_SOFT_HKR_ALPHA = 0.9;
export const DEFAULT_SOFT_HKR_MIN_MARGIN = 1;
export const DEFAULT_SOFT_HKR_ALPHA_MEAN = 0.99;
export const DEFAULT_SOFT_HKR_TEMPERATURE = 1;

/** Offset cross-entropy defaults: AOL's (Prach & Lampert 2022), offset sqrt(2) and temperature 1/4. */
export const DEFAULT_MARGIN_CCE_OFFSET = Math.SQRT2;
export const DEFAULT_MARGIN_CCE_TEMPERATURE = 0.25;

/** Certified robust accuracy is reported at these radii by default (defined in @lip/core, which verify shares). */
export { DEFAULT_EPSILONS } from '@lip/core';

/** Most data-parallel workers (`train()`'s and the attacks' `workers`). */
export const MAX_WORKERS = 64;

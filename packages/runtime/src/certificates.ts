/**
 * The certified radius of one prediction, from its logits and the file's
 * certificate contract. It is @lip/core's
 * `certify` (`@lip/core/certificates`, the one implementation `lip verify`
 * uses too), so the radii are the same float64 numbers (test: runtime.test.ts
 * on the shipped model):
 *
 *   multiclass  min_{j != y} (f_y - f_j - s_yj) / (sqrt(2) L)           (Tsuzuku et al. 2018)
 *   binary      (|f| - s) / L                                          (one logit, class = f > 0)
 *   head-aware  min_{j != y} (f_y - f_j - s_yj) / (||w_y - w_j|| L_body)
 *
 * with s_yj = CERTIFICATE_ROUNDING_MARGIN (|f_y| + |f_j| + 1), the allowance
 * for float32 rounding of the logits, and denominators rounded up by 1e-15.
 * With head norms the radius is the larger of multiclass and head-aware
 * (both are sound).
 */

import { CERTIFICATE_ROUNDING_MARGIN, certify, predictClasses } from '@lip/core/certificates';

export { CERTIFICATE_ROUNDING_MARGIN };

/** What a radius is computed from: the metadata contract, checked (see metadata.ts). */
export interface CertificateParams {
  form: 'multiclass' | 'binary';
  /** L of input -> logits. */
  lipschitz: number;
  /** Head-aware constants, or null. */
  head: { bodyLipschitz: number; rowDistances: Float64Array } | null;
}

/** Index of the largest of `scores` (the first one on ties); binary: 1 when the logit is > 0. */
export function predictedClass(scores: ArrayLike<number>): number {
  return predictClasses(scores, scores.length)[0];
}

/** The certified L2 radius of the prediction made from `scores` (one input's logits). */
export function certifiedRadius(scores: ArrayLike<number>, p: CertificateParams): number {
  return certify(scores, scores.length, { lipschitz: p.lipschitz, headDistances: p.form === 'binary' ? null : p.head }).certificates[0];
}

/**
 * The certified radius of one prediction, from its logits and the file's
 * certificate contract. The arithmetic is `lip verify`'s
 * (packages/verify/src/certificates.ts) operation for operation, so the radii
 * are the same float64 numbers (test: runtime.test.ts on the shipped model):
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

/** Absolute-plus-relative margin subtracted from every logit difference (as in @lip/verify). */
export const CERTIFICATE_ROUNDING_MARGIN = 1e-5;

/** What a radius is computed from: the metadata contract, checked (see metadata.ts). */
export interface CertificateParams {
  form: 'multiclass' | 'binary';
  /** L of input -> logits. */
  lipschitz: number;
  /** Head-aware constants, or null. */
  head: { bodyLipschitz: number; rowDistances: Float64Array } | null;
}

function roundingSlack(a: number, b: number): number {
  return CERTIFICATE_ROUNDING_MARGIN * (Math.abs(a) + Math.abs(b) + 1);
}

/** Index of the largest of `scores` (the first one on ties); binary: 1 when the logit is > 0. */
export function predictedClass(scores: ArrayLike<number>): number {
  if (scores.length === 1) return scores[0] > 0 ? 1 : 0;
  let best = 0;
  for (let j = 1; j < scores.length; j++) if (scores[j] > scores[best]) best = j;
  return best;
}

/** The certified L2 radius of the prediction made from `scores` (one input's logits). */
export function certifiedRadius(scores: ArrayLike<number>, p: CertificateParams): number {
  const classes = scores.length;
  if (p.form === 'binary') {
    const f = scores[0];
    return Math.max(0, Math.abs(f) - roundingSlack(f, 0)) / (p.lipschitz * (1 + 1e-15));
  }
  const y = predictedClass(scores);
  const denom = Math.SQRT2 * p.lipschitz * (1 + 1e-15);
  let standard = Infinity;
  let tight = Infinity;
  for (let j = 0; j < classes; j++) {
    if (j === y) continue;
    const fy = scores[y];
    const fj = scores[j];
    const margin = Math.max(0, fy - fj - roundingSlack(fy, fj));
    standard = Math.min(standard, margin / denom);
    if (p.head) {
      const d = p.head.rowDistances[y * classes + j] * p.head.bodyLipschitz * (1 + 1e-15);
      tight = Math.min(tight, d > 0 ? margin / d : margin > 0 ? Infinity : 0);
    }
  }
  return p.head ? Math.max(standard, tight) : standard;
}

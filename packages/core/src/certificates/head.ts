/**
 * The constants of the head-aware certificate
 *
 *   r(x) = min_{j != y} (f_y - f_j) / (||w_y - w_j|| L_body)
 *
 * for logits f = W g(x) + b (see packages/verify/src/certificates.ts). One
 * implementation, so the distances @lip/export writes to metadata and the ones
 * @lip/verify (and the runtime's `checkBound`, through it) recomputes from the
 * graph are the same float64 numbers.
 */

/** A linear head: row j of `weights` holds logit j's weights (`[classes, dim]`, row-major). */
export interface HeadRows {
  classes: number;
  dim: number;
  weights: Float32Array | Float64Array;
}

/**
 * ||w_i - w_j||_2 for all pairs (`[classes, classes]`, zero diagonal), summed in
 * float64 in index order and rounded up by (1 + 1e-12).
 */
export function headRowDistances(head: HeadRows): Float64Array {
  const { weights, classes, dim } = head;
  const dist = new Float64Array(classes * classes);
  for (let i = 0; i < classes; i++) {
    for (let j = i + 1; j < classes; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) {
        const d = weights[i * dim + k] - weights[j * dim + k];
        s += d * d;
      }
      const v = Math.sqrt(s) * (1 + 1e-12);
      dist[i * classes + j] = v;
      dist[j * classes + i] = v;
    }
  }
  return dist;
}

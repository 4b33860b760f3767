/**
 * Certificates and certified robust accuracy on plain arrays (no tfjs), for
 * code that holds raw logits, such as @lip/verify reading onnxruntime
 * outputs.
 *
 * For an L-Lipschitz network (L2 norm), the logit margin `f_i - f_j` is
 * `sqrt(2) L`-Lipschitz, so the prediction cannot change within the radius
 *
 *     multiclass: (top1 - top2) / (sqrt(2) L)      binary (one logit): |f| / L
 *
 * (Tsuzuku, Sato & Sugiyama 2018, "Lipschitz-margin training"; the
 * `certificate` metadata of exported models).
 */
import { assertArg } from '../errors';

export function assertLipschitz(lipschitz: unknown, where: string): asserts lipschitz is number {
  assertArg(
    typeof lipschitz === 'number' && Number.isFinite(lipschitz) && lipschitz > 0,
    () => `${where}: 'lipschitz' must be a finite number > 0, got ${String(lipschitz)}`,
  );
}

export function assertEpsilons(eps: unknown, where: string): asserts eps is readonly number[] {
  assertArg(
    Array.isArray(eps) && eps.every((e) => typeof e === 'number' && Number.isFinite(e) && e >= 0),
    () => `${where}: 'eps' must be an array of finite numbers >= 0, got ${JSON.stringify(eps)}`,
  );
}

function assertLogits(logits: ArrayLike<number>, numClasses: number, where: string): number {
  assertArg(
    Number.isInteger(numClasses) && numClasses >= 1,
    () => `${where}: 'numClasses' must be an integer >= 1, got ${String(numClasses)}`,
  );
  assertArg(
    logits.length % numClasses === 0,
    () => `${where}: 'logits' has ${logits.length} values, not a multiple of 'numClasses' ${numClasses}`,
  );
  return logits.length / numClasses;
}

/**
 * Certified radius of each sample. `logits` is row-major `[n, numClasses]`;
 * `numClasses = 1` is a binary classifier with one logit.
 */
export function certificatesFromLogits(
  logits: ArrayLike<number>,
  numClasses: number,
  lipschitz = 1,
): Float64Array {
  const where = 'certificatesFromLogits';
  const n = assertLogits(logits, numClasses, where);
  assertLipschitz(lipschitz, where);
  const out = new Float64Array(n);
  if (numClasses === 1) {
    for (let i = 0; i < n; i++) out[i] = Math.abs(logits[i]) / lipschitz;
    return out;
  }
  const scale = Math.SQRT2 * lipschitz;
  for (let i = 0; i < n; i++) {
    let top1 = -Infinity;
    let top2 = -Infinity;
    for (let k = 0; k < numClasses; k++) {
      const v = logits[i * numClasses + k];
      if (v > top1) {
        top2 = top1;
        top1 = v;
      } else if (v > top2) {
        top2 = v;
      }
    }
    out[i] = (top1 - top2) / scale;
  }
  return out;
}

/**
 * Predicted class of each sample (first maximum; binary: 1 when the logit is
 * > 0, else 0).
 */
export function predictedClassesFromLogits(logits: ArrayLike<number>, numClasses: number): Int32Array {
  const n = assertLogits(logits, numClasses, 'predictedClassesFromLogits');
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (numClasses === 1) {
      out[i] = logits[i] > 0 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (logits[i * numClasses + k] > logits[i * numClasses + best]) best = k;
    out[i] = best;
  }
  return out;
}

/**
 * Certified robust accuracy at each radius: the fraction of samples that are
 * correctly classified AND whose certificate is > eps. `labels` are class
 * indices (binary: a label > 0 is the positive class, so 1/0 and +1/-1 both
 * work).
 */
export function certifiedRobustAccuracyFromLogits(
  labels: ArrayLike<number>,
  logits: ArrayLike<number>,
  numClasses: number,
  eps: readonly number[],
  lipschitz = 1,
): number[] {
  const where = 'certifiedRobustAccuracyFromLogits';
  const n = assertLogits(logits, numClasses, where);
  assertArg(
    labels.length === n,
    () => `${where}: 'labels' has ${labels.length} values for ${n} samples`,
  );
  assertEpsilons(eps, where);
  const certs = certificatesFromLogits(logits, numClasses, lipschitz);
  const predicted = predictedClassesFromLogits(logits, numClasses);
  const counts = eps.map(() => 0);
  for (let i = 0; i < n; i++) {
    const label = numClasses === 1 ? (labels[i] > 0 ? 1 : 0) : labels[i];
    if (predicted[i] !== label) continue;
    for (let e = 0; e < eps.length; e++) if (certs[i] > eps[e]) counts[e]++;
  }
  return counts.map((c) => (n === 0 ? 0 : c / n));
}

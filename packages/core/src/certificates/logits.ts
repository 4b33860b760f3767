/**
 * Robustness certificates from logits: an L2 radius around each input within
 * which the predicted class cannot change. The one implementation: `lip
 * verify` (@lip/verify re-exports these) and @lip/train's tensor metrics call
 * it (@lip/runtime's `certifiedRadius` repeats it per image, without imports).
 *
 *   multiclass  min_{j != y} (f_y - f_j - s_yj) / (sqrt(2) L)        (Tsuzuku, Sato & Sugiyama 2018)
 *   binary      (|f| - s) / L                                       (one logit, class = f > 0)
 *   head-aware  min_{j != y} (f_y - f_j - s_yj) / (||w_y - w_j|| L_body)
 *
 * For an L-Lipschitz network (L2 norm) each margin f_y - f_j is
 * sqrt(2) L-Lipschitz. The head-aware certificate applies when the logits are
 * f = W g(x) + b with g L_body-Lipschitz: f_y - f_j = (w_y - w_j) . g(x) +
 * (b_y - b_j) changes by at most ||w_y - w_j|| L_body ||dx||, so no j can
 * overtake y within that radius. With ||w_y - w_j|| <= sqrt(2) ||W||_2 and
 * L = ||W||_2 L_body it is never smaller than the multiclass one, and equal
 * for an orthogonal head.
 *
 * Rounding: the logits come from float32 arithmetic (onnxruntime, tfjs),
 * which is not the exact function the Lipschitz bound is about. Each margin
 * is reduced by s_yj = CERTIFICATE_ROUNDING_MARGIN (|f_y| + |f_j| + 1)
 * (s = CERTIFICATE_ROUNDING_MARGIN (|f| + 1) for one logit) before dividing;
 * this covers a relative error of about 80 float32 ulps in the logits
 * (accumulated dot-product rounding through a few layers). Margins and the
 * division are done in float64, and denominators are rounded up by 1e-15.
 */
import { assertArg } from '../errors';
import { HeadRows, headRowDistances } from './head';

/** Absolute-plus-relative margin subtracted from every logit difference (see the module comment). */
export const CERTIFICATE_ROUNDING_MARGIN = 1e-5;

/** Denominators are multiplied by this, so float64 rounding of the product cannot enlarge a radius. */
const DENOMINATOR_ROUND_UP = 1 + 1e-15;

export type CertificateKind = 'multiclass' | 'binary' | 'head-aware';

export interface Certificates {
  /** Predicted class per image (binary: 1 when f > 0). */
  predictions: Int32Array;
  /** Certified L2 radius per image (0 when the margin does not clear the rounding margin). */
  certificates: Float64Array;
  kind: CertificateKind;
  /** Head-aware kind: the multiclass certificates under the same L (`certificates` are at least these). */
  multiclass?: Float64Array;
}

/** A linear head f = W g(x) + b whose body g is `bodyLipschitz`-Lipschitz. */
export interface CertifiedHead extends HeadRows {
  bodyLipschitz: number;
}

export interface CertifyOptions {
  /** Lipschitz constant of the whole model (input -> logits). */
  lipschitz: number;
  /** Final linear layer with a certified body bound: enables head-aware certificates. */
  head?: CertifiedHead | null;
  /**
   * The same head given by its row distances `[classes, classes]` (as a model's
   * metadata carries them, see @lip/runtime) instead of its weights; used when
   * `head` is not given.
   */
  headDistances?: HeadDistances | null;
}

/** A linear head by its precomputed ||w_i - w_j|| (`[classes, classes]`, row-major) and its body's Lipschitz bound. */
export interface HeadDistances {
  rowDistances: ArrayLike<number>;
  bodyLipschitz: number;
}

/** Throws `InvalidArgumentError` unless `value` (the parameter `name` of `where`) is a finite number > 0. */
export function assertLipschitz(value: unknown, where: string, name = 'lipschitz'): asserts value is number {
  assertArg(typeof value === 'number' && Number.isFinite(value) && value > 0, () => `${where}: '${name}' must be a finite number > 0, got ${String(value)}`);
}

/** Throws `InvalidArgumentError` unless `eps` is an array of finite radii >= 0. */
export function assertEpsilons(eps: unknown, where: string): asserts eps is readonly number[] {
  assertArg(
    Array.isArray(eps) && eps.every((e) => typeof e === 'number' && Number.isFinite(e) && e >= 0),
    () => `${where}: 'eps' must be an array of finite numbers >= 0, got ${JSON.stringify(eps)}`,
  );
}

/** The number of rows of row-major logits `[n, classes]`. */
function rowCount(logits: ArrayLike<number>, classes: number, where: string): number {
  assertArg(Number.isInteger(classes) && classes >= 1, () => `${where}: 'classes' must be an integer >= 1, got ${String(classes)}`);
  assertArg(logits.length % classes === 0, () => `${where}: 'logits' holds ${logits.length} values, not a multiple of 'classes' ${classes}`);
  return logits.length / classes;
}

function roundingSlack(a: number, b: number): number {
  return CERTIFICATE_ROUNDING_MARGIN * (Math.abs(a) + Math.abs(b) + 1);
}

/** Index of the largest of the `classes` logits from `offset` (the first one on ties). */
function argmax(logits: ArrayLike<number>, offset: number, classes: number): number {
  let best = 0;
  for (let j = 1; j < classes; j++) if (logits[offset + j] > logits[offset + best]) best = j;
  return best;
}

/** Predicted class of each row of `[n, classes]` logits: the first largest; one logit: 1 when f > 0, else 0. */
export function predictClasses(logits: ArrayLike<number>, classes: number): Int32Array {
  const n = rowCount(logits, classes, 'predictClasses');
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = classes === 1 ? (logits[i] > 0 ? 1 : 0) : argmax(logits, i * classes, classes);
  return out;
}

/** min_{j != y} (f_y - f_j - s_yj) / (sqrt(2) L) per row, at least 0. */
export function multiclassCertificates(logits: ArrayLike<number>, classes: number, lipschitz: number): Float64Array {
  const where = 'multiclassCertificates';
  const n = rowCount(logits, classes, where);
  assertLipschitz(lipschitz, where);
  assertArg(classes >= 2, () => `${where}: 'classes' must be >= 2 (one logit is binaryCertificates), got ${classes}`);
  return certifyRows(logits, classes, n, lipschitz, null).multiclass;
}

/**
 * One pass over `n` rows of `[n, classes]` logits (classes >= 2): the
 * predicted class y, the multiclass certificate min_{j != y} (f_y - f_j -
 * s_yj) / (sqrt(2) L) and, given the head's row distances times L_body
 * (`scaledDist`, [classes, classes]), the head-aware one min_{j != y} (f_y -
 * f_j - s_yj) / (||w_y - w_j|| L_body) (see `headAwareCertificates`). One
 * loop instead of one per kind: `lip verify` runs it once per process, in
 * V8's interpreter for most of its rows.
 */
function certifyRows(
  logits: ArrayLike<number>,
  classes: number,
  n: number,
  lipschitz: number,
  scaledDist: Float64Array | null,
): { predictions: Int32Array; multiclass: Float64Array; headAware: Float64Array | null } {
  const denom = Math.SQRT2 * lipschitz * DENOMINATOR_ROUND_UP;
  const predictions = new Int32Array(n);
  const multiclass = new Float64Array(n);
  const headAware = scaledDist ? new Float64Array(n) : null;
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    let y = 0;
    for (let j = 1; j < classes; j++) if (logits[row + j] > logits[row + y]) y = j;
    const fy = logits[row + y];
    let cert = Infinity;
    let tight = Infinity;
    for (let j = 0; j < classes; j++) {
      if (j === y) continue;
      const fj = logits[row + j];
      const margin = Math.max(0, fy - fj - roundingSlack(fy, fj));
      cert = Math.min(cert, margin / denom);
      if (scaledDist) {
        const d = scaledDist[y * classes + j];
        tight = Math.min(tight, d > 0 ? margin / d : margin > 0 ? Infinity : 0);
      }
    }
    predictions[i] = y;
    multiclass[i] = cert;
    if (headAware) headAware[i] = tight;
  }
  return { predictions, multiclass, headAware };
}

/** (|f| - s) / L per row of a one-logit model, at least 0. */
export function binaryCertificates(logits: ArrayLike<number>, lipschitz: number): Float64Array {
  assertLipschitz(lipschitz, 'binaryCertificates');
  const denom = lipschitz * DENOMINATOR_ROUND_UP;
  return Float64Array.from(logits, (f) => Math.max(0, Math.abs(f) - roundingSlack(f, 0)) / denom);
}

/**
 * min_{j != y} (f_y - f_j - s_yj) / (||w_y - w_j|| L_body) per row, y the
 * predicted class. A pair of identical rows (distance 0) can never be
 * separated by the input: its term is +Infinity when the margin clears the
 * rounding allowance (the order is fixed) and 0 otherwise.
 */
export function headAwareCertificates(logits: ArrayLike<number>, head: HeadRows, bodyLipschitz: number): Float64Array {
  const where = 'headAwareCertificates';
  const n = rowCount(logits, head.classes, where);
  return certifyRows(logits, head.classes, n, 1, headRowsScaled({ ...head, bodyLipschitz }, where)).headAware!;
}

/** `headAwareCertificates` from the head's precomputed row distances `[classes, classes]`. */
export function headAwareCertificatesFromDistances(logits: ArrayLike<number>, classes: number, head: HeadDistances): Float64Array {
  const where = 'headAwareCertificatesFromDistances';
  const n = rowCount(logits, classes, where);
  return certifyRows(logits, classes, n, 1, headDistancesScaled(head, classes, where)).headAware!;
}

/** The checks of a head given by its weights, then its ||w_y - w_j|| L_body (`scaledDistances`). */
function headRowsScaled(head: CertifiedHead, where: string): Float64Array {
  assertArg(
    head.weights.length === head.classes * head.dim,
    () => `${where}: 'head.weights' holds ${head.weights.length} values, expected ${head.classes}x${head.dim}`,
  );
  assertLipschitz(head.bodyLipschitz, where, 'bodyLipschitz');
  return scaledDistances(headRowDistances(head), head.bodyLipschitz);
}

/** The checks of a head given by its row distances, then its ||w_y - w_j|| L_body (`scaledDistances`). */
function headDistancesScaled(head: HeadDistances, classes: number, where: string): Float64Array {
  assertArg(
    head.rowDistances.length === classes * classes,
    () => `${where}: 'rowDistances' holds ${head.rowDistances.length} values, expected ${classes}x${classes}`,
  );
  assertLipschitz(head.bodyLipschitz, where, 'bodyLipschitz');
  return scaledDistances(head.rowDistances, head.bodyLipschitz);
}

/** ||w_y - w_j|| L_body, rounded up as the certificates' denominators are. */
function scaledDistances(dist: ArrayLike<number>, bodyLipschitz: number): Float64Array {
  return Float64Array.from(dist, (d) => d * bodyLipschitz * DENOMINATOR_ROUND_UP);
}

/**
 * Certificates for a batch of logits `[n, classes]`: binary for one logit,
 * else multiclass; with a head of as many classes, each image gets the larger
 * of the head-aware and multiclass certificates (both are sound) and the kind
 * is 'head-aware'.
 */
export function certify(logits: ArrayLike<number>, classes: number, opts: CertifyOptions): Certificates {
  if (classes === 1) return { predictions: predictClasses(logits, classes), certificates: binaryCertificates(logits, opts.lipschitz), kind: 'binary' };
  // The checks and messages of the functions this pass stands for (multiclassCertificates, headAwareCertificates...).
  const n = rowCount(logits, classes, 'multiclassCertificates');
  assertLipschitz(opts.lipschitz, 'multiclassCertificates');
  const head = opts.head;
  let dist: Float64Array | null = null;
  if (head && head.classes === classes) dist = headRowsScaled(head, 'headAwareCertificates');
  else if (!head && opts.headDistances) dist = headDistancesScaled(opts.headDistances, classes, 'headAwareCertificatesFromDistances');
  const { predictions, multiclass, headAware } = certifyRows(logits, classes, n, opts.lipschitz, dist);
  if (!headAware) return { predictions, certificates: multiclass, kind: 'multiclass' };
  const certificates = new Float64Array(n);
  for (let i = 0; i < n; i++) certificates[i] = Math.max(multiclass[i], headAware[i]);
  return { predictions, certificates, kind: 'head-aware', multiclass };
}

/**
 * Certified robust accuracy at each radius of `eps`: the fraction of samples
 * that are correct AND whose certificate is > eps. NaN when there are no
 * samples (there is no fraction to report).
 */
export function certifiedRobustAccuracy(correct: ArrayLike<boolean | number>, certificates: ArrayLike<number>, eps: readonly number[]): number[] {
  const where = 'certifiedRobustAccuracy';
  assertArg(correct.length === certificates.length, () => `${where}: 'correct' has ${correct.length} values for ${certificates.length} certificates`);
  assertEpsilons(eps, where);
  const n = certificates.length;
  const counts = eps.map(() => 0);
  for (let i = 0; i < n; i++) {
    if (!correct[i]) continue;
    for (let e = 0; e < eps.length; e++) if (certificates[i] > eps[e]) counts[e]++;
  }
  return counts.map((c) => (n === 0 ? NaN : c / n));
}

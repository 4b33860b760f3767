/**
 * Robustness certificates: a radius (L2) around each input within which the
 * predicted class cannot change.
 *
 *   multiclass  (f_y - max_{j != y} f_j) / (sqrt(2) L)       (Tsuzuku et al. 2018)
 *   binary      |f| / L                                      (one logit, class = f > 0)
 *   head-aware  min_{j != y} (f_y - f_j) / (||w_y - w_j|| L_body)
 *
 * The head-aware certificate applies when the logits are f = W g(x) + b with
 * g L_body-Lipschitz: f_y - f_j = (w_y - w_j) . g(x) + (b_y - b_j) changes by at
 * most ||w_y - w_j|| L_body ||dx||, so no j can overtake y within that radius.
 * With ||w_y - w_j|| <= sqrt(2) ||W||_2 and L = ||W||_2 L_body it is never
 * smaller than the multiclass one, and equal for an orthogonal head.
 *
 * Rounding: the logits come from float32 arithmetic in onnxruntime, which is
 * not the exact function the Lipschitz bound is about. Each margin is reduced
 * by CERTIFICATE_ROUNDING_MARGIN * (|f_y| + |f_j| + 1) before dividing; this
 * covers a relative error of about 80 float32 ulps in the logits
 * (accumulated dot-product rounding through a few layers). Margins and the
 * division are done in float64, and denominators are rounded up.
 */
import { InvalidArgumentError, headRowDistances } from '@lip/core';
import type { LinearHead } from './bound';

/** Absolute-plus-relative margin subtracted from every logit difference (see the module comment). */
export const CERTIFICATE_ROUNDING_MARGIN = 1e-5;

export type CertificateKind = 'multiclass' | 'binary' | 'head-aware';

export interface Certificates {
  /** Predicted class per image (binary: 1 when f > 0). */
  predictions: Int32Array;
  /** Certified L2 radius per image (0 when the margin does not clear the rounding margin). */
  certificates: Float64Array;
  kind: CertificateKind;
}

function roundingSlack(a: number, b: number): number {
  return CERTIFICATE_ROUNDING_MARGIN * (Math.abs(a) + Math.abs(b) + 1);
}

function checkLogits(logits: Float32Array | Float64Array, classes: number): number {
  if (!Number.isInteger(classes) || classes < 1) throw new InvalidArgumentError(`'classes' must be an integer >= 1, got ${classes}`);
  if (logits.length % classes !== 0) {
    throw new InvalidArgumentError(`'logits' holds ${logits.length} values, not a multiple of classes=${classes}`);
  }
  return logits.length / classes;
}

function checkLipschitz(name: string, l: number): void {
  if (!(l > 0) || !Number.isFinite(l)) throw new InvalidArgumentError(`'${name}' must be a finite number > 0, got ${l}`);
}

/** Index of the largest logit of each row (first one on ties). */
export function predictClasses(logits: Float32Array | Float64Array, classes: number): Int32Array {
  const n = checkLogits(logits, classes);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (classes === 1) {
      out[i] = logits[i] > 0 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let j = 1; j < classes; j++) if (logits[i * classes + j] > logits[i * classes + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** (top1 - top2) / (sqrt(2) L) per row. */
export function multiclassCertificates(logits: Float32Array | Float64Array, classes: number, lipschitz: number): Float64Array {
  const n = checkLogits(logits, classes);
  checkLipschitz('lipschitz', lipschitz);
  if (classes < 2) throw new InvalidArgumentError(`multiclass certificates need classes >= 2, got ${classes}`);
  const denom = Math.SQRT2 * lipschitz * (1 + 1e-15);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let y = 0;
    for (let j = 1; j < classes; j++) if (logits[i * classes + j] > logits[i * classes + y]) y = j;
    let cert = Infinity;
    for (let j = 0; j < classes; j++) {
      if (j === y) continue;
      const fy = logits[i * classes + y];
      const fj = logits[i * classes + j];
      cert = Math.min(cert, Math.max(0, fy - fj - roundingSlack(fy, fj)) / denom);
    }
    out[i] = cert;
  }
  return out;
}

/** |f| / L per row of a one-logit model. */
export function binaryCertificates(logits: Float32Array | Float64Array, lipschitz: number): Float64Array {
  checkLipschitz('lipschitz', lipschitz);
  const denom = lipschitz * (1 + 1e-15);
  return Float64Array.from(logits, (f) => Math.max(0, Math.abs(f) - roundingSlack(f, 0)) / denom);
}

/** ||w_i - w_j|| for all pairs, rounded up ([classes, classes]); the same numbers @lip/export writes to metadata. */
export { headRowDistances };

/**
 * min_{j != y} (f_y - f_j) / (||w_y - w_j|| L_body) per row, y the predicted
 * class. A pair of identical rows (distance 0) can never be separated by the
 * input: its term is +Infinity when f_y > f_j (the order is fixed) and 0 otherwise.
 */
export function headAwareCertificates(logits: Float32Array | Float64Array, head: Pick<LinearHead, 'weights' | 'classes' | 'dim'>,
  bodyLipschitz: number): Float64Array {
  const classes = head.classes;
  const n = checkLogits(logits, classes);
  checkLipschitz('bodyLipschitz', bodyLipschitz);
  if (head.weights.length !== classes * head.dim) {
    throw new InvalidArgumentError(`head weights hold ${head.weights.length} values, expected ${classes}x${head.dim}`);
  }
  const dist = headRowDistances(head);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let y = 0;
    for (let j = 1; j < classes; j++) if (logits[i * classes + j] > logits[i * classes + y]) y = j;
    let cert = Infinity;
    for (let j = 0; j < classes; j++) {
      if (j === y) continue;
      const fy = logits[i * classes + y];
      const fj = logits[i * classes + j];
      const margin = Math.max(0, fy - fj - roundingSlack(fy, fj));
      const d = dist[y * classes + j] * bodyLipschitz * (1 + 1e-15);
      cert = Math.min(cert, d > 0 ? margin / d : margin > 0 ? Infinity : 0);
    }
    out[i] = cert;
  }
  return out;
}

export interface CertifyOptions {
  /** Lipschitz constant of the whole model (input -> logits). */
  lipschitz: number;
  /** Final linear layer with a certified body bound: enables head-aware certificates. */
  head?: Pick<LinearHead, 'weights' | 'classes' | 'dim' | 'bodyLipschitz'> | null;
}

/**
 * Certificates for a batch of logits `[n, classes]`. With a head, each image
 * gets the larger of the head-aware and multiclass certificates (both are
 * sound) and the kind is 'head-aware'.
 */
export function certify(logits: Float32Array | Float64Array, classes: number, opts: CertifyOptions): Certificates {
  const predictions = predictClasses(logits, classes);
  if (classes === 1) return { predictions, certificates: binaryCertificates(logits, opts.lipschitz), kind: 'binary' };
  const standard = multiclassCertificates(logits, classes, opts.lipschitz);
  const head = opts.head;
  if (!head || head.classes !== classes) return { predictions, certificates: standard, kind: 'multiclass' };
  const tight = headAwareCertificates(logits, head, head.bodyLipschitz);
  const certificates = Float64Array.from(standard, (s, i) => Math.max(s, tight[i]));
  return { predictions, certificates, kind: 'head-aware' };
}

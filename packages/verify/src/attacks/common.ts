import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '@lip/core';

/** The logits of a batch and their backward pass (see `LogitsFn.vjp`). */
export interface LogitsVjp {
  readonly logits: tf.Tensor2D;
  /** `d sum(dy * logits) / dx`, `[N, C, H, W]`. */
  backward(dy: tf.Tensor2D): tf.Tensor4D;
}

/**
 * A differentiable classifier on NCHW input, returning logits `[N, classes]`
 * (see `translateOnnx`). `vjp`, when present and not returning null, gives
 * the same logits and gradient without tfjs's gradient tape.
 */
export type LogitsFn = ((x: tf.Tensor4D) => tf.Tensor2D) & { readonly vjp?: (x: tf.Tensor4D) => LogitsVjp | null };

/** Shape of an input batch, NCHW. */
export type Nchw = [number, number, number, number];

/** The box every input lives in (the model's `input_range`, [0, 1] by default). */
export type InputBounds = readonly [number, number];

/** Progress of an attack on one batch: `done` of `total` units of the named phase. */
export interface AttackProgress {
  /** What is being counted, for example `binary search 2/6` or `step`. */
  readonly phase: string;
  readonly done: number;
  readonly total: number;
  /**
   * A throttled tick within a longer unit (cw: Adam steps within a binary-search
   * step), for live displays; a log can skip these and keep the other updates.
   */
  readonly detail?: boolean;
}

/** Result of an attack on one batch. */
export interface AttackOutput {
  /**
   * Adversarial inputs, NCHW, same length as the input batch. Where none was
   * found: the point closest to the boundary that the attack reached (fmn, pgd,
   * deepfool), or the original (cw, hsja).
   */
  readonly adv: Float32Array;
  /** Whether the attack itself believes each input was fooled (re-checked in onnxruntime afterwards). */
  readonly found: boolean[];
  /** Forward + backward passes run (gradient attacks), for timing reports. */
  readonly gradientSteps?: number;
}

/** Logits of the batch and the vector-Jacobian product `dy^T d logits / dx`. */
export interface LogitsAndGrad {
  readonly logits: Float32Array;
  readonly grad: Float32Array;
  readonly numClasses: number;
}

/**
 * One forward and one backward pass: `dyFromLogits` sees the logits of the
 * forward pass and returns the cotangent `dy` (`[N, classes]`, row-major);
 * the gradient returned is `d sum(dy * logits) / dx`. Choosing `dy` from the
 * logits (best other class, softmax, ...) is not differentiated, exactly like
 * an argmax inside a loss.
 */
export function logitsAndGrad(
  model: LogitsFn,
  x: Float32Array,
  shape: Nchw,
  dyFromLogits: (logits: Float32Array, numClasses: number) => Float32Array,
): LogitsAndGrad {
  let logits: Float32Array = new Float32Array(0);
  let numClasses = 0;
  const grad = tf.tidy(() => {
    const xt = tf.tensor4d(x, shape);
    const run = model.vjp?.(xt);
    if (run) {
      numClasses = run.logits.shape[1];
      logits = (run.logits.dataSync() as Float32Array).slice();
      return run.backward(tf.tensor2d(dyFromLogits(logits, numClasses), run.logits.shape));
    }
    const g = tf.grad((xin: tf.Tensor) => {
      const out = model(xin as tf.Tensor4D);
      numClasses = out.shape[1];
      logits = (out.dataSync() as Float32Array).slice();
      const dy = tf.tensor2d(dyFromLogits(logits, numClasses), out.shape);
      return tf.sum(tf.mul(out, dy));
    });
    return g(xt);
  });
  const data = (grad.dataSync() as Float32Array).slice();
  grad.dispose();
  return { logits, grad: data, numClasses };
}

/** Forward pass only: the logits, row-major `[N, classes]`. */
export function logitsOf(model: LogitsFn, x: Float32Array, shape: Nchw): { logits: Float32Array; numClasses: number } {
  const out = tf.tidy(() => model(tf.tensor4d(x, shape)));
  const logits = (out.dataSync() as Float32Array).slice();
  const numClasses = out.shape[1];
  out.dispose();
  return { logits, numClasses };
}

/** Index of the largest entry of row `i` (the first one on ties, like numpy). */
export function argmaxRow(logits: ArrayLike<number>, i: number, k: number): number {
  let best = 0;
  let bv = logits[i * k];
  for (let j = 1; j < k; j++) {
    const v = logits[i * k + j];
    if (v > bv) {
      bv = v;
      best = j;
    }
  }
  return best;
}

/** Index of the largest entry of row `i` other than `exclude`. */
export function bestOtherClass(logits: ArrayLike<number>, i: number, k: number, exclude: number): number {
  let best = -1;
  let bv = -Infinity;
  for (let j = 0; j < k; j++) {
    if (j === exclude) continue;
    const v = logits[i * k + j];
    if (best < 0 || v > bv) {
      bv = v;
      best = j;
    }
  }
  return best;
}

/**
 * Logit margin, relative to the row's largest logit (at least 1), by which a
 * point must be past the decision boundary to count as adversarial inside an
 * attack: twice the tolerance the translation must meet against onnxruntime
 * (`TRANSLATION_TOLERANCE`, 1e-5), so an adversarial found on the tfjs
 * translation is still one when onnxruntime re-checks it. Minimum-norm attacks
 * end right at the boundary, where the two runtimes could otherwise disagree.
 */
export const ADVERSARIAL_MARGIN = 2e-5;

/** `max_{j != label} z_j - z_label > ADVERSARIAL_MARGIN * max(1, max_j |z_j|)` on row `i`. */
export function isClearlyAdversarial(logits: ArrayLike<number>, i: number, k: number, label: number): boolean {
  let scale = 1;
  for (let j = 0; j < k; j++) scale = Math.max(scale, Math.abs(logits[i * k + j]));
  const other = bestOtherClass(logits, i, k, label);
  return logits[i * k + other] - logits[i * k + label] > ADVERSARIAL_MARGIN * scale;
}

/** Predicted classes of every row. */
export function argmaxRows(logits: ArrayLike<number>, n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => argmaxRow(logits, i, k));
}

/** L2 norm of row `i` of `a` (rows of length `d`), in float64. */
export function rowNorm(a: ArrayLike<number>, i: number, d: number): number {
  let s = 0;
  for (let p = i * d; p < (i + 1) * d; p++) s += a[p] * a[p];
  return Math.sqrt(s);
}

/** L2 distance between row `i` of `a` and of `b`, in float64. */
export function rowDistance(a: ArrayLike<number>, b: ArrayLike<number>, i: number, d: number): number {
  let s = 0;
  for (let p = i * d; p < (i + 1) * d; p++) {
    const t = a[p] - b[p];
    s += t * t;
  }
  return Math.sqrt(s);
}

/** Clips every entry into `[lo, hi]` in place and returns `a`. */
export function clipInPlace(a: Float32Array, lo: number, hi: number): Float32Array {
  for (let p = 0; p < a.length; p++) a[p] = a[p] < lo ? lo : a[p] > hi ? hi : a[p];
  return a;
}

/** Number of entries per input of an NCHW shape. */
export function perInput(shape: Nchw): number {
  return shape[1] * shape[2] * shape[3];
}

/**
 * A seeded generator (@lip/core's mulberry32) so attacks with random starts are
 * reproducible. Any number is a seed, taken modulo 2^32 as before (mulberry32 itself wants an integer).
 */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed >>> 0);
}

/**
 * A seed for image `i` (rows of `d` values) from `seed` and its pixels (FNV-1a of
 * their float32 bits): random draws made per image are then the same whatever
 * batch, or worker's share of one, the image is in.
 */
export function imageSeed(x: Float32Array, i: number, d: number, seed: number): number {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let p = i * d; p < (i + 1) * d; p++) h = Math.imul(h ^ bits[p], 0x01000193) >>> 0;
  return h;
}

/** A standard normal sample (Box-Muller) from a uniform generator. */
export function normalSample(rand: () => number): number {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

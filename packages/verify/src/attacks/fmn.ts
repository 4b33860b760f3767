import {
  AttackOutput,
  AttackProgress,
  InputBounds,
  LogitsFn,
  Nchw,
  bestOtherClass,
  imageSeed,
  isClearlyAdversarial,
  logitsAndGrad,
  logitsOf,
  perInput,
  seededRandom,
} from './common';

/** Options of L2 Fast Minimum Norm; defaults are the paper's and foolbox's `L2FMNAttack`. */
export interface FmnOptions {
  /** Iterations. Default 100. */
  steps?: number;
  /** Initial step size (cosine-annealed). Default 1. */
  maxStepsize?: number;
  /** Final step size. Default maxStepsize / 100. */
  minStepsize?: number;
  /** Initial epsilon step (cosine-annealed down to 0.001). Default 0.05. */
  gamma?: number;
  /**
   * Steps after which an image with no adversarial yet restarts from the boundary
   * with a point of another class (`fmnBoundaryStart`). Default steps / 10 (on the
   * shipped model every image is fooled within 10 of 100 steps).
   */
  initAfter?: number;
  /** Input box. Default [0, 1]. */
  bounds?: InputBounds;
  onProgress?: (p: AttackProgress) => void;
}

export const FMN_DEFAULTS = { steps: 100, maxStepsize: 1, gamma: 0.05, gammaFinal: 0.001 } as const;

/** Bisection steps of the projection onto the intersection of the eps-ball and the box (relative precision 2^-50). */
const PROJECTION_BISECTIONS = 50;

/**
 * Fast Minimum Norm L2 attack (Pintor, Roli, Brendel, Biggio, NeurIPS 2021,
 * https://arxiv.org/abs/2102.12827), Algorithm 1. With `l = z_y - max_{j != y} z_j`
 * and `g = grad(-l)` restricted to the box (components that push a pixel at a
 * bound further out are zeroed):
 * - the norm budget eps shrinks to `min(eps (1 - gamma), ||best delta||)` while
 *   adversarial, grows to `eps (1 + gamma)` once an adversarial was seen, and is
 *   `(||delta|| + |l| / ||g||) (1 + gamma)` before that: the linear extrapolation
 *   to the boundary, overshot by the same factor, since a margin that curves
 *   away is otherwise approached forever and never crossed;
 * - `delta <- P(delta + alpha g / ||g||)`, alpha and gamma cosine-annealed
 *   (1 -> 1/100 and 0.05 -> 0.001), where P is the exact Euclidean projection
 *   onto the intersection of the eps-ball and the box (`projectBallBox`);
 * - an image still without adversarial after `initAfter` steps restarts from the
 *   paper's adversarial initialization: the boundary between the input and a
 *   point of another class, found without gradients (`fmnBoundaryStart`), for
 *   example where the gradient vanishes at the input (a dead ReLU region).
 * Returns the smallest adversarial seen; where none was found, the point with
 * the smallest margin `l` (so a caller can report how far the attack got).
 *
 * foolbox's `L2FMNAttack` (3.3.4) differs on purpose: its projection computes
 * `min(1, norms / norms)`, which is 1, so it never projects: it is normalized
 * gradient ascent with a step of 1 annealed to 0.01, which always crosses but
 * stops far beyond the boundary.
 */
export function fmnL2(model: LogitsFn, x0: Float32Array, shape: Nchw, labels: ArrayLike<number>, opts: FmnOptions = {}): AttackOutput {
  const steps = opts.steps ?? FMN_DEFAULTS.steps;
  const maxStep = opts.maxStepsize ?? FMN_DEFAULTS.maxStepsize;
  const minStep = opts.minStepsize ?? maxStep / 100;
  const gamma0 = opts.gamma ?? FMN_DEFAULTS.gamma;
  const initAfter = opts.initAfter ?? Math.floor(steps / 10);
  const bounds = opts.bounds ?? [0, 1];
  const [lo, hi] = bounds;
  const n = shape[0];
  const d = perInput(shape);

  const delta = new Float64Array(n * d);
  const bestDelta = new Float64Array(n * d);
  const closestDelta = new Float64Array(n * d);
  const closestMargin = new Float64Array(n).fill(Infinity);
  const epsilon = new Float64Array(n).fill(Infinity);
  const worstNorm = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let p = i * d; p < (i + 1) * d; p++) {
      const w = Math.max(x0[p] - lo, hi - x0[p]);
      s += w * w;
    }
    worstNorm[i] = Math.sqrt(s);
  }
  const bestNorm = Float64Array.from(worstNorm);
  const advFound = new Array<boolean>(n).fill(false);
  const everBest = new Array<boolean>(n).fill(false);
  const towards = new Int32Array(n).fill(-1);
  const xAdv = new Float32Array(n * d);
  const lossBatch = new Float64Array(n);
  let gradientSteps = 0;

  for (let step = 0; step < steps; step++) {
    if (step === initAfter && step > 0) {
      const todo = advFound.flatMap((f, i) => (f ? [] : [i]));
      if (todo.length > 0) {
        const start = fmnBoundaryStart(model, x0, shape, labels, todo, delta, towards, bounds);
        todo.forEach((i, t) => {
          if (start.found[t]) delta.set(start.delta.subarray(t * d, (t + 1) * d), i * d);
        });
      }
    }
    const cos = (1 + Math.cos((Math.PI * step) / steps)) / 2;
    const stepsize = minStep + (maxStep - minStep) * cos;
    const gamma = FMN_DEFAULTS.gammaFinal + (gamma0 - FMN_DEFAULTS.gammaFinal) * cos;
    for (let p = 0; p < n * d; p++) xAdv[p] = x0[p] + delta[p];

    // Gradient of -(z_y - z_j*) = z_j* - z_y.
    gradientSteps++;
    const {
      logits,
      grad,
      numClasses: k,
    } = logitsAndGrad(model, xAdv, shape, (z, kk) => {
      const dy = new Float32Array(n * kk);
      for (let i = 0; i < n; i++) {
        const y = labels[i];
        const j = bestOtherClass(z, i, kk, y);
        towards[i] = j;
        lossBatch[i] = z[i * kk + y] - z[i * kk + j];
        dy[i * kk + j] = 1;
        dy[i * kk + y] = -1;
      }
      return dy;
    });

    for (let i = 0; i < n; i++) {
      const isAdv = isClearlyAdversarial(logits, i, k, labels[i]);
      let dn = 0;
      let gn = 0;
      for (let p = i * d; p < (i + 1) * d; p++) {
        dn += delta[p] * delta[p];
        // Box-feasible gradient: a pixel at a bound cannot move further out.
        if ((grad[p] < 0 && xAdv[p] <= lo) || (grad[p] > 0 && xAdv[p] >= hi)) grad[p] = 0;
        gn += grad[p] * grad[p];
      }
      dn = Math.sqrt(dn);
      gn = Math.sqrt(gn);
      if (isAdv && dn <= bestNorm[i]) {
        bestNorm[i] = dn;
        everBest[i] = true;
        bestDelta.set(delta.subarray(i * d, (i + 1) * d), i * d);
      }
      if (!everBest[i] && lossBatch[i] < closestMargin[i]) {
        closestMargin[i] = lossBatch[i];
        closestDelta.set(delta.subarray(i * d, (i + 1) * d), i * d);
      }
      const wasFound = advFound[i] || isAdv;
      advFound[i] = wasFound;
      if (isAdv) {
        epsilon[i] = Math.min(epsilon[i] * (1 - gamma), bestNorm[i]);
      } else if (wasFound) {
        epsilon[i] = epsilon[i] * (1 + gamma);
      } else {
        epsilon[i] = (dn + Math.abs(lossBatch[i]) / Math.max(gn, 1e-12)) * (1 + gamma);
      }
      epsilon[i] = Math.min(epsilon[i], worstNorm[i]);

      const g = Math.max(gn, 1e-12);
      for (let p = i * d; p < (i + 1) * d; p++) delta[p] += (stepsize * grad[p]) / g;
      projectBallBox(delta, x0, i, d, epsilon[i], bounds);
    }
    opts.onProgress?.({ phase: 'step', done: step + 1, total: steps });
  }

  // The last step's point is never evaluated inside the loop.
  for (let p = 0; p < n * d; p++) xAdv[p] = x0[p] + delta[p];
  const last = logitsOf(model, xAdv, shape);
  const adv = Float32Array.from(x0);
  for (let i = 0; i < n; i++) {
    const k = last.numClasses;
    let dn = 0;
    for (let p = i * d; p < (i + 1) * d; p++) dn += delta[p] * delta[p];
    dn = Math.sqrt(dn);
    const margin = last.logits[i * k + labels[i]] - last.logits[i * k + bestOtherClass(last.logits, i, k, labels[i])];
    if (isClearlyAdversarial(last.logits, i, k, labels[i]) && dn <= bestNorm[i]) {
      bestNorm[i] = dn;
      everBest[i] = true;
      bestDelta.set(delta.subarray(i * d, (i + 1) * d), i * d);
    } else if (!everBest[i] && margin < closestMargin[i]) {
      closestDelta.set(delta.subarray(i * d, (i + 1) * d), i * d);
    }
    const from = everBest[i] ? bestDelta : closestDelta;
    for (let p = i * d; p < (i + 1) * d; p++) adv[p] = clamp(x0[p] + from[p], lo, hi);
  }
  return { adv, found: everBest, gradientSteps };
}

/**
 * Exact Euclidean projection of `x0 + delta` (row `i`) onto the intersection of
 * the L2 ball of radius `eps` around `x0` and the box, in place on `delta`. Both
 * sets are centred on x0 coordinate-wise, so the KKT conditions give
 * `delta_p = clip(f v_p)` with one factor f in (0, 1] (f = 1 / (1 + lambda),
 * lambda the ball's multiplier): f = 1 when the clipped point is inside the
 * ball, else the f where the clipped norm, nondecreasing in f, equals eps
 * (bisection; the lower end is kept, so the norm never exceeds eps).
 */
export function projectBallBox(delta: Float64Array, x0: ArrayLike<number>, i: number, d: number, eps: number, bounds: InputBounds): void {
  const [lo, hi] = bounds;
  const off = i * d;
  const clippedNorm = (f: number): number => {
    let s = 0;
    for (let p = off; p < off + d; p++) {
      const v = clamp(f * delta[p], lo - x0[p], hi - x0[p]);
      s += v * v;
    }
    return Math.sqrt(s);
  };
  let f = 1;
  if (clippedNorm(1) > eps) {
    let a = 0;
    let b = 1;
    for (let t = 0; t < PROJECTION_BISECTIONS; t++) {
      const m = (a + b) / 2;
      if (clippedNorm(m) > eps) b = m;
      else a = m;
    }
    f = a;
  }
  for (let p = off; p < off + d; p++) delta[p] = clamp(f * delta[p], lo - x0[p], hi - x0[p]);
}

/** Line-search scales tried by `fmnBoundaryStart`: 2^0 ... 2^(n-1) times the current direction. */
const INIT_LINE_SEARCH_DOUBLINGS = 12;
/** Uniform-noise images tried by `fmnBoundaryStart` when the line search fails. */
const INIT_NOISE_DRAWS = 20;
/** Bisection steps on the segment from the input to the adversarial start. */
const INIT_BISECTIONS = 20;

/**
 * FMN's adversarial initialization (the paper's `starting_points`, which
 * foolbox takes from an `init_attack`), found here with forward passes only,
 * for each image in `rows`:
 * 1. a point of the other class: the input moved along its current perturbation
 *    (towards its best other class `towards`; the gradient of z_towards - z_y
 *    when the perturbation is zero), with the scale doubled until the clipped
 *    point is clearly adversarial; failing that, the first of uniform-noise
 *    images (seeded per image, `imageSeed`) that is adversarial (foolbox's
 *    blended-noise initialization);
 * 2. bisection on the segment from the input to that point (the paper's
 *    `mid_points`), keeping the adversarial end.
 * Returns the perturbations (`[rows.length, d]`) and which rows have one.
 */
export function fmnBoundaryStart(
  model: LogitsFn,
  x0: Float32Array,
  shape: Nchw,
  labels: ArrayLike<number>,
  rows: number[],
  delta: Float64Array,
  towards: Int32Array,
  bounds: InputBounds,
): { delta: Float64Array; found: boolean[] } {
  const [lo, hi] = bounds;
  const d = perInput(shape);
  const m = rows.length;
  const sub: Nchw = [m, shape[1], shape[2], shape[3]];
  const adversarial = (xs: Float32Array): boolean[] => {
    const { logits, numClasses } = logitsOf(model, xs, sub);
    return rows.map((i, t) => isClearlyAdversarial(logits, t, numClasses, labels[i]));
  };
  const inputs = new Float32Array(m * d);
  rows.forEach((i, t) => inputs.set(x0.subarray(i * d, (i + 1) * d), t * d));

  const dir = new Float64Array(m * d);
  rows.forEach((i, t) => {
    for (let p = 0; p < d; p++) dir[t * d + p] = delta[i * d + p];
  });
  const { grad } = logitsAndGrad(model, inputs, sub, (_z, kk) => {
    const dy = new Float32Array(m * kk);
    rows.forEach((i, t) => {
      const j = towards[i] >= 0 ? towards[i] : (labels[i] + 1) % kk;
      dy[t * kk + j] = 1;
      dy[t * kk + labels[i]] = -1;
    });
    return dy;
  });
  for (let t = 0; t < m; t++) {
    let s = 0;
    for (let p = t * d; p < (t + 1) * d; p++) s += dir[p] * dir[p];
    if (s === 0) for (let p = t * d; p < (t + 1) * d; p++) dir[p] = grad[p];
  }

  // 1. The adversarial end of the segment.
  const target = Float32Array.from(inputs);
  const found = new Array<boolean>(m).fill(false);
  const tryPoints = (candidate: Float32Array): void => {
    adversarial(candidate).forEach((a, t) => {
      if (!a || found[t]) return;
      found[t] = true;
      target.set(candidate.subarray(t * d, (t + 1) * d), t * d);
    });
  };
  for (let s = 0; s < INIT_LINE_SEARCH_DOUBLINGS && found.includes(false); s++) {
    const scale = 2 ** s;
    tryPoints(Float32Array.from(inputs, (v, p) => clamp(v + scale * dir[p], lo, hi)));
  }
  const rands = rows.map((i) => seededRandom(imageSeed(x0, i, d, 0x464d4e)));
  for (let r = 0; r < INIT_NOISE_DRAWS && found.includes(false); r++) {
    const noise = new Float32Array(m * d);
    for (let t = 0; t < m; t++) for (let p = t * d; p < (t + 1) * d; p++) noise[p] = lo + (hi - lo) * rands[t]();
    tryPoints(noise);
  }

  // 2. Bisection on x0 + s (target - x0), s in [0, 1].
  const lower = new Float64Array(m);
  const upper = new Float64Array(m).fill(1);
  const along = (s: Float64Array): Float32Array => Float32Array.from(inputs, (v, p) => v + s[Math.floor(p / d)] * (target[p] - v));
  for (let b = 0; b < INIT_BISECTIONS; b++) {
    const mid = Float64Array.from(lower, (l, t) => (l + upper[t]) / 2);
    adversarial(along(mid)).forEach((a, t) => {
      if (a) upper[t] = mid[t];
      else lower[t] = mid[t];
    });
  }
  const ends = along(upper);
  const out = new Float64Array(m * d);
  for (let t = 0; t < m; t++) {
    if (!found[t]) continue;
    for (let p = t * d; p < (t + 1) * d; p++) out[p] = ends[p] - inputs[p];
  }
  return { delta: out, found };
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

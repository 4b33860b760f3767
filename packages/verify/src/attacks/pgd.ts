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
  normalSample,
  perInput,
  rowNorm,
  seededRandom,
} from './common';

/** The loss PGD ascends: the logit margin `max_{j != y} z_j - z_y`, or the cross-entropy (foolbox's). */
export type PgdLoss = 'margin' | 'crossentropy';

/** Options of L2 PGD. */
export interface PgdOptions {
  /** Radius of the L2 ball (required). */
  eps: number;
  /** Update steps per run. Default 50 (foolbox's). */
  steps?: number;
  /** Step size relative to eps. Default 0.1 (foolbox: 0.025). */
  relStepsize?: number;
  /** Absolute step size; overrides relStepsize. */
  absStepsize?: number;
  /** Loss to ascend. Default 'margin' (foolbox: 'crossentropy'). */
  loss?: PgdLoss;
  /** Start the first run from a random point of the ball instead of the input. Default false (foolbox: true). */
  randomStart?: boolean;
  /** Further runs, each from a random point of the ball (`pgdRandomStart` with seed, seed + 1, ...). Default 1 (foolbox: 0). */
  restarts?: number;
  /** Seed of the random starts. Default 0. */
  seed?: number;
  /** Input box. Default [0, 1]. */
  bounds?: InputBounds;
  /**
   * The first random start (`[n, ...chw]`), when the caller drew it: it must be
   * `pgdRandomStart` of these rows with `seed` (attacks/parallel.ts draws it for
   * the whole batch and hands each worker its rows). Computed here when omitted.
   */
  start?: Float32Array;
  onProgress?: (p: AttackProgress) => void;
}

export const PGD_DEFAULTS = { steps: 50, relStepsize: 0.1, loss: 'margin', randomStart: false, restarts: 1 } as const;

/**
 * L2 projected gradient ascent (Madry et al. 2018, https://arxiv.org/abs/1706.06083)
 * with restarts: each run repeats `x <- clip(P_eps(x + s g / ||g||))`, `s = relStepsize * eps`,
 * `g` the gradient of the loss. The first run starts at the input (or a random
 * point of the ball with `randomStart`), each restart at a random point of the
 * ball. Every iterate is checked: an image counts as fooled when any iterate of
 * any run is clearly misclassified (`isClearlyAdversarial`), and the iterate
 * returned is the one with the smallest margin `z_y - max_{j != y} z_j` (the
 * adversarial, or where none was found, the point closest to one).
 *
 * Differences from foolbox's `L2ProjectedGradientDescentAttack`, on purpose:
 * the margin loss (a Lipschitz network's logits are close together, so the
 * softmax is nearly flat and the cross-entropy's gradient averages over all
 * classes instead of pointing at the nearest boundary); a first run from the
 * input (a uniform point of a 784-dimensional ball lies at distance ~eps in a
 * random direction, spending the step budget on coming back); a step of 0.1 eps
 * (5 eps of travel in 50 steps, so a restart can cross the ball); and the best
 * iterate instead of the last.
 */
export function pgdL2(model: LogitsFn, x0: Float32Array, shape: Nchw, labels: ArrayLike<number>, opts: PgdOptions): AttackOutput {
  const steps = opts.steps ?? PGD_DEFAULTS.steps;
  const stepsize = opts.absStepsize ?? (opts.relStepsize ?? PGD_DEFAULTS.relStepsize) * opts.eps;
  const loss = opts.loss ?? PGD_DEFAULTS.loss;
  const randomStart = opts.randomStart ?? PGD_DEFAULTS.randomStart;
  const restarts = opts.restarts ?? PGD_DEFAULTS.restarts;
  const seed = opts.seed ?? 0;
  const bounds = opts.bounds ?? [0, 1];
  const [lo, hi] = bounds;
  const n = shape[0];
  const d = perInput(shape);
  if (opts.start && opts.start.length !== x0.length) throw new RangeError(`pgd: 'start' holds ${opts.start.length} values, the batch ${x0.length}`);
  if (!(Number.isInteger(restarts) && restarts >= 0)) throw new RangeError(`pgd: 'restarts' must be an integer >= 0, got ${restarts}`);

  const best = Float32Array.from(x0);
  const bestMargin = new Float64Array(n).fill(Infinity);
  const found = new Array<boolean>(n).fill(false);
  const runs = 1 + restarts;
  let gradientSteps = 0;
  for (let run = 0; run < runs; run++) {
    // Random starts number 0, 1, ... over the runs that use one.
    const randomIndex = randomStart ? run : run - 1;
    let x: Float32Array;
    if (randomIndex < 0) x = Float32Array.from(x0);
    else if (randomIndex === 0 && opts.start) x = Float32Array.from(opts.start);
    else x = pgdRandomStart(x0, n, d, opts.eps, bounds, seed + randomIndex);

    // steps updates; the gradient pass also evaluates each iterate, and one more pass evaluates the last.
    for (let step = 0; step <= steps; step++) {
      gradientSteps++;
      const { logits, grad, numClasses: k } = logitsAndGrad(model, x, shape, (z, kk) => lossCotangent(z, n, kk, labels, loss));
      for (let i = 0; i < n; i++) {
        const y = labels[i];
        const margin = logits[i * k + y] - logits[i * k + bestOtherClass(logits, i, k, y)];
        const clear = isClearlyAdversarial(logits, i, k, y);
        // An adversarial is kept against any later non-adversarial iterate, however small its margin.
        if ((clear && !found[i]) || (clear === found[i] && margin < bestMargin[i])) {
          found[i] = clear;
          bestMargin[i] = margin;
          best.set(x.subarray(i * d, (i + 1) * d), i * d);
        }
      }
      if (step === steps) break;
      for (let i = 0; i < n; i++) {
        const gn = Math.max(rowNorm(grad, i, d), 1e-12);
        let dn = 0;
        for (let p = i * d; p < (i + 1) * d; p++) {
          const nx = x[p] + (stepsize * grad[p]) / gn;
          grad[p] = nx - x0[p];
          dn += grad[p] * grad[p];
        }
        const factor = Math.min(1, opts.eps / Math.max(Math.sqrt(dn), 1e-12));
        for (let p = i * d; p < (i + 1) * d; p++) x[p] = clamp(x0[p] + grad[p] * factor, lo, hi);
      }
      opts.onProgress?.({ phase: runs > 1 ? `run ${run + 1}/${runs} step` : 'step', done: step + 1, total: steps });
    }
  }
  return { adv: best, found, gradientSteps };
}

/** `dy = d loss / d logits` for every row: margin `z_j* - z_y`, or cross-entropy `softmax(z) - onehot(y)`. */
function lossCotangent(z: Float32Array, n: number, k: number, labels: ArrayLike<number>, loss: PgdLoss): Float32Array {
  const dy = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (loss === 'margin') {
      dy[i * k + bestOtherClass(z, i, k, y)] = 1;
      dy[i * k + y] = -1;
      continue;
    }
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, z[i * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(z[i * k + j] - mx);
    for (let j = 0; j < k; j++) dy[i * k + j] = Math.exp(z[i * k + j] - mx) / sum - (j === y ? 1 : 0);
  }
  return dy;
}

/**
 * PGD's random start: each image moved to a uniform point of the L2 ball of
 * radius `eps` around it (Voelker et al. 2017: the first d coordinates of a
 * uniform point of the (d+2)-sphere), clipped to the box. Each image has its own
 * seeded stream (`imageSeed`), so it starts at the same point whatever batch or
 * worker it is in.
 */
export function pgdRandomStart(x0: Float32Array, n: number, d: number, eps: number, bounds: InputBounds, seed: number): Float32Array {
  const [lo, hi] = bounds;
  const x = Float32Array.from(x0);
  const s = new Float64Array(d + 2);
  for (let i = 0; i < n; i++) {
    const rand = seededRandom(imageSeed(x0, i, d, seed));
    let norm = 0;
    for (let p = 0; p < d + 2; p++) {
      s[p] = normalSample(rand);
      norm += s[p] * s[p];
    }
    norm = Math.sqrt(norm);
    for (let p = 0; p < d; p++) x[i * d + p] = clamp(x0[i * d + p] + (eps * s[p]) / norm, lo, hi);
  }
  return x;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

import {
  AttackOutput, AttackProgress, InputBounds, LogitsFn, Nchw, argmaxRows, logitsAndGrad, logitsOf, normalSample, perInput,
  rowNorm, seededRandom,
} from './common';

/** Options of L2 PGD; defaults are foolbox's `L2ProjectedGradientDescentAttack`. */
export interface PgdOptions {
  /** Radius of the L2 ball (required). */
  eps: number;
  /** Update steps. Default 50. */
  steps?: number;
  /** Step size relative to eps. Default 0.025. */
  relStepsize?: number;
  /** Absolute step size; overrides relStepsize. */
  absStepsize?: number;
  /** Start from a uniform point of the eps-ball. Default true. */
  randomStart?: boolean;
  /** Seed of the random start. Default 0. */
  seed?: number;
  /** Input box. Default [0, 1]. */
  bounds?: InputBounds;
  /**
   * The starting point (`[n, ...chw]`), used instead of the random start: a caller
   * that splits a batch over workers draws `pgdRandomStart` of the whole batch and
   * hands each worker its rows, so every image starts where it would in one thread.
   */
  start?: Float32Array;
  onProgress?: (p: AttackProgress) => void;
}

export const PGD_DEFAULTS = { steps: 50, relStepsize: 0.025, randomStart: true } as const;

/**
 * L2 projected gradient ascent on the cross-entropy (Madry et al. 2018), as foolbox's
 * `L2ProjectedGradientDescentAttack`: `x <- clip(P_eps(x + s g / ||g||))` with
 * `s = relStepsize * eps`, from a random point of the ball. Returns the last iterate;
 * `found` is true where it is misclassified with respect to `labels`.
 */
export function pgdL2(model: LogitsFn, x0: Float32Array, shape: Nchw, labels: ArrayLike<number>, opts: PgdOptions): AttackOutput {
  const steps = opts.steps ?? PGD_DEFAULTS.steps;
  const stepsize = opts.absStepsize ?? (opts.relStepsize ?? PGD_DEFAULTS.relStepsize) * opts.eps;
  const [lo, hi] = opts.bounds ?? [0, 1];
  const n = shape[0];
  const d = perInput(shape);
  let x: Float32Array;
  if (opts.start) {
    if (opts.start.length !== x0.length) throw new RangeError(`pgd: 'start' holds ${opts.start.length} values, the batch ${x0.length}`);
    x = Float32Array.from(opts.start);
  } else if (opts.randomStart ?? PGD_DEFAULTS.randomStart) {
    x = pgdRandomStart(x0, n, d, opts.eps, [lo, hi], opts.seed ?? 0);
  } else {
    x = Float32Array.from(x0);
  }

  for (let step = 0; step < steps; step++) {
    // d/dz of cross-entropy: softmax(z) - onehot(y).
    const { grad } = logitsAndGrad(model, x, shape, (z, k) => {
      const dy = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        let mx = -Infinity;
        for (let j = 0; j < k; j++) mx = Math.max(mx, z[i * k + j]);
        let sum = 0;
        for (let j = 0; j < k; j++) sum += Math.exp(z[i * k + j] - mx);
        for (let j = 0; j < k; j++) dy[i * k + j] = Math.exp(z[i * k + j] - mx) / sum - (j === labels[i] ? 1 : 0);
      }
      return dy;
    });
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
    opts.onProgress?.({ phase: 'step', done: step + 1, total: steps });
  }
  const { logits, numClasses } = logitsOf(model, x, shape);
  const preds = argmaxRows(logits, n, numClasses);
  return { adv: x, found: preds.map((p, i) => p !== labels[i]) };
}

/**
 * PGD's random start for a batch: each image moved to a uniform point of the L2
 * ball of radius `eps` around it (Voelker et al. 2017: the first d coordinates of
 * a uniform point of the (d+2)-sphere), clipped to the box; one seeded stream
 * for the whole batch, image after image.
 */
export function pgdRandomStart(x0: Float32Array, n: number, d: number, eps: number, bounds: InputBounds, seed: number): Float32Array {
  const [lo, hi] = bounds;
  const x = Float32Array.from(x0);
  const rand = seededRandom(seed);
  const s = new Float64Array(d + 2);
  for (let i = 0; i < n; i++) {
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

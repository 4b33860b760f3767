import {
  AttackOutput, AttackProgress, InputBounds, LogitsFn, Nchw, argmaxRow, bestOtherClass, logitsAndGrad, perInput,
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
  /** Input box. Default [0, 1]. */
  bounds?: InputBounds;
  onProgress?: (p: AttackProgress) => void;
}

export const FMN_DEFAULTS = { steps: 100, maxStepsize: 1, gamma: 0.05 } as const;

/**
 * Fast Minimum Norm L2 attack (Pintor, Roli, Brendel, Biggio, NeurIPS 2021,
 * https://arxiv.org/abs/2102.12827), Algorithm 1 as in foolbox's `FMNAttackLp`:
 * with `l = z_y - max_{j != y} z_j` and `g = grad(-l)`,
 * - the norm budget shrinks to `min(eps (1 - gamma), ||best delta||)` while adversarial,
 *   grows to `eps (1 + gamma)` once an adversarial was seen, and is
 *   `||delta|| + |l| / ||g||` before that (linear extrapolation to the boundary);
 * - `delta <- clip(P_eps(delta + alpha g / ||g||))`, with alpha and gamma cosine-annealed.
 * The projection is onto the L2 ball of radius eps (the paper's `P_eps`).
 * Returns the smallest adversarial seen, the original where none was found.
 */
export function fmnL2(model: LogitsFn, x0: Float32Array, shape: Nchw, labels: ArrayLike<number>, opts: FmnOptions = {}): AttackOutput {
  const steps = opts.steps ?? FMN_DEFAULTS.steps;
  const maxStep = opts.maxStepsize ?? FMN_DEFAULTS.maxStepsize;
  const minStep = opts.minStepsize ?? maxStep / 100;
  const gamma0 = opts.gamma ?? FMN_DEFAULTS.gamma;
  const [lo, hi] = opts.bounds ?? [0, 1];
  const n = shape[0];
  const d = perInput(shape);

  const delta = new Float64Array(n * d);
  const bestDelta = new Float64Array(n * d);
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
  const xAdv = new Float32Array(n * d);
  const lossBatch = new Float64Array(n);

  for (let step = 0; step < steps; step++) {
    const cos = (1 + Math.cos((Math.PI * step) / steps)) / 2;
    const stepsize = minStep + (maxStep - minStep) * cos;
    const gamma = 0.001 + (gamma0 - 0.001) * cos;
    for (let p = 0; p < n * d; p++) xAdv[p] = x0[p] + delta[p];

    // Gradient of -(z_y - z_j*) = z_j* - z_y.
    const { logits, grad, numClasses: k } = logitsAndGrad(model, xAdv, shape, (z, kk) => {
      const dy = new Float32Array(n * kk);
      for (let i = 0; i < n; i++) {
        const y = labels[i];
        const j = bestOtherClass(z, i, kk, y);
        lossBatch[i] = z[i * kk + y] - z[i * kk + j];
        dy[i * kk + j] = 1;
        dy[i * kk + y] = -1;
      }
      return dy;
    });

    for (let i = 0; i < n; i++) {
      const isAdv = argmaxRow(logits, i, k) !== labels[i];
      let dn = 0;
      let gn = 0;
      for (let p = i * d; p < (i + 1) * d; p++) {
        dn += delta[p] * delta[p];
        gn += grad[p] * grad[p];
      }
      dn = Math.sqrt(dn);
      gn = Math.sqrt(gn);
      if (isAdv && dn <= bestNorm[i]) {
        bestNorm[i] = dn;
        everBest[i] = true;
        bestDelta.set(delta.subarray(i * d, (i + 1) * d), i * d);
      }
      const wasFound = advFound[i] || isAdv;
      advFound[i] = wasFound;
      if (isAdv) {
        epsilon[i] = Math.min(epsilon[i] * (1 - gamma), rowNorm64(bestDelta, i, d));
      } else if (wasFound) {
        epsilon[i] = epsilon[i] * (1 + gamma);
      } else {
        epsilon[i] = dn + Math.abs(lossBatch[i]) / gn;
      }
      epsilon[i] = Math.min(epsilon[i], worstNorm[i]);

      // Normalized gradient step, projection onto the eps-ball, clip to the box.
      const g = Math.max(gn, 1e-12);
      let nn = 0;
      for (let p = i * d; p < (i + 1) * d; p++) {
        delta[p] += (stepsize * grad[p]) / g;
        nn += delta[p] * delta[p];
      }
      const factor = Math.min(1, epsilon[i] / Math.max(Math.sqrt(nn), 1e-12));
      for (let p = i * d; p < (i + 1) * d; p++) {
        const v = x0[p] + delta[p] * factor;
        delta[p] = (v < lo ? lo : v > hi ? hi : v) - x0[p];
      }
    }
    opts.onProgress?.({ phase: 'step', done: step + 1, total: steps });
  }

  const adv = Float32Array.from(x0);
  for (let i = 0; i < n; i++) {
    if (!everBest[i]) continue;
    for (let p = i * d; p < (i + 1) * d; p++) adv[p] = x0[p] + bestDelta[p];
  }
  return { adv, found: everBest };
}

function rowNorm64(a: Float64Array, i: number, d: number): number {
  let s = 0;
  for (let p = i * d; p < (i + 1) * d; p++) s += a[p] * a[p];
  return Math.sqrt(s);
}

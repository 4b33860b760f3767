import { AttackOutput, AttackProgress, InputBounds, normalSample, seededRandom } from './common';

/** Predicted classes of `n` inputs (row-major, `d` values each); HopSkipJump sees nothing else. */
export type PredictFn = (x: Float32Array, n: number) => Promise<Int32Array | number[]>;

/** Options of HopSkipJump (L2); defaults are foolbox's `HopSkipJumpAttack` plus a query budget. */
export interface HsjaOptions {
  /** Iterations (gradient estimate, geometric step, boundary search). Default 64. */
  steps?: number;
  /** Gradient-estimation queries at the first step, growing with sqrt(step). Default 100. */
  initialGradientEvals?: number;
  /** Cap of gradient-estimation queries per step. Default 10000. */
  maxGradientEvals?: number;
  /** Boundary-search threshold is gamma / d^1.5. Default 1. */
  gamma?: number;
  /** Model queries allowed per input, initialization included. Default 20000. */
  maxQueries?: number;
  /** Random directions tried to find a first adversarial (blended uniform noise). Default 1000. */
  initDirections?: number;
  /** Blend steps of the initial linear search. Default 50. */
  initSteps?: number;
  /** Inputs per model call. Default 500. */
  batchSize?: number;
  seed?: number;
  bounds?: InputBounds;
  onProgress?: (p: AttackProgress) => void;
}

export const HSJA_DEFAULTS = {
  steps: 64,
  initialGradientEvals: 100,
  maxGradientEvals: 10000,
  gamma: 1,
  maxQueries: 20000,
  initDirections: 1000,
  initSteps: 50,
  batchSize: 500,
} as const;

/** Thrown inside one input's run when its query budget is spent. */
class BudgetSpent extends Error {}

/**
 * HopSkipJumpAttack, L2 (Chen, Jordan, Wainwright 2020, https://arxiv.org/abs/1904.02144),
 * following foolbox: a decision-based attack that only sees predicted classes,
 * so it runs on the deployed model (onnxruntime) with no gradient at all.
 * Start from blended uniform noise (linear search), project to the boundary by
 * bisection, then repeat: estimate the boundary normal from signs of
 * `sqrt(step) * 100` random probes, step geometrically along it, bisect back to
 * the boundary. Each input has its own query budget; when it runs out, the
 * closest adversarial so far is returned.
 */
export async function hopSkipJumpL2(
  predict: PredictFn,
  x0: Float32Array,
  n: number,
  d: number,
  labels: ArrayLike<number>,
  opts: HsjaOptions = {},
): Promise<AttackOutput & { queries: number[] }> {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as HsjaOptions;
  const o = { ...HSJA_DEFAULTS, ...given };
  const [lo, hi] = o.bounds ?? [0, 1];
  const rand = seededRandom(o.seed ?? 0);
  const adv = Float32Array.from(x0);
  const found = new Array<boolean>(n).fill(false);
  const queries = new Array<number>(n).fill(0);
  const theta = o.gamma / (d * Math.sqrt(d));

  for (let i = 0; i < n; i++) {
    const x = x0.subarray(i * d, (i + 1) * d);
    const label = labels[i];
    let best: Float32Array | null = null;
    /** True where the prediction differs from the label; counts queries. */
    const isAdv = async (batch: Float32Array, m: number): Promise<boolean[]> => {
      if (queries[i] + m > o.maxQueries) throw new BudgetSpent();
      queries[i] += m;
      const out: boolean[] = [];
      for (let s = 0; s < m; s += o.batchSize) {
        const c = Math.min(o.batchSize, m - s);
        const p = await predict(batch.subarray(s * d, (s + c) * d), c);
        for (let j = 0; j < c; j++) out.push(p[j] !== label);
      }
      return out;
    };
    const blend = (a: Float32Array, b: Float32Array, t: number): Float32Array => Float32Array.from(a, (v, p) => (1 - t) * v + t * b[p]);
    /** Bisection on the segment x -> y (y adversarial); returns the point on the adversarial side. */
    const toBoundary = async (y: Float32Array): Promise<Float32Array> => {
      let low = 0;
      let high = 1;
      let old = -1;
      while (high - low > theta) {
        const mid = (low + high) / 2;
        if (mid === old) break;
        old = mid;
        const [a] = await isAdv(blend(x, y, mid), 1);
        if (a) high = mid;
        else low = mid;
      }
      return blend(x, y, high);
    };
    const dist = (y: Float32Array): number => {
      let s = 0;
      for (let p = 0; p < d; p++) s += (y[p] - x[p]) ** 2;
      return Math.sqrt(s);
    };

    try {
      // Initialization: uniform noise until adversarial, then the smallest adversarial blend.
      let noise: Float32Array | null = null;
      for (let t = 0; t < o.initDirections && !noise; t += 100) {
        const m = Math.min(100, o.initDirections - t);
        const cands = new Float32Array(m * d);
        for (let p = 0; p < cands.length; p++) cands[p] = lo + (hi - lo) * rand();
        const adv0 = await isAdv(cands, m);
        const j = adv0.indexOf(true);
        if (j >= 0) noise = cands.slice(j * d, (j + 1) * d);
      }
      if (!noise) continue;
      const blends = new Float32Array(o.initSteps * d);
      for (let s = 1; s <= o.initSteps; s++) blends.set(blend(x, noise, s / o.initSteps), (s - 1) * d);
      const ok = await isAdv(blends, o.initSteps);
      const first = ok.indexOf(true);
      let xAdv = first >= 0 ? blends.slice(first * d, (first + 1) * d) : noise;
      xAdv = await toBoundary(xAdv);
      best = xAdv;
      let distance = dist(xAdv);

      for (let step = 0; step < o.steps; step++) {
        const delta = step === 0 ? 0.1 : Math.sqrt(d) * theta * distance;
        const evals = Math.floor(Math.min(o.initialGradientEvals * Math.sqrt(step + 1), o.maxGradientEvals));
        // Monte Carlo estimate of the boundary normal at xAdv.
        const probes = new Float32Array(evals * d);
        const rv = new Float64Array(evals * d);
        for (let e = 0; e < evals; e++) {
          let nrm = 0;
          for (let p = 0; p < d; p++) {
            const g = normalSample(rand);
            rv[e * d + p] = g;
            nrm += g * g;
          }
          nrm = Math.sqrt(nrm) + 1e-12;
          for (let p = 0; p < d; p++) {
            const v = Math.min(hi, Math.max(lo, xAdv[p] + (delta * rv[e * d + p]) / nrm));
            probes[e * d + p] = v;
            rv[e * d + p] = (v - xAdv[p]) / (delta + 1e-8);
          }
        }
        const signs = (await isAdv(probes, evals)).map((a) => (a ? 1 : -1));
        const mean = signs.reduce((s, v) => s + v, 0) / evals;
        const grad = new Float64Array(d);
        for (let e = 0; e < evals; e++) {
          const w = Math.abs(mean) === 1 ? signs[e] : signs[e] - mean;
          for (let p = 0; p < d; p++) grad[p] += (w * rv[e * d + p]) / evals;
        }
        let gn = 0;
        for (let p = 0; p < d; p++) gn += grad[p] * grad[p];
        gn = Math.sqrt(gn) + 1e-12;

        // Geometric step size: halve until the step stays adversarial.
        let eps = distance / Math.sqrt(step + 1);
        let proposal: Float32Array | null = null;
        for (let halvings = 0; halvings < 30; halvings++) {
          const cand = Float32Array.from(xAdv, (v, p) => Math.min(hi, Math.max(lo, v + (eps * grad[p]) / gn)));
          const [a] = await isAdv(cand, 1);
          if (a) {
            proposal = cand;
            break;
          }
          eps /= 2;
        }
        if (proposal) {
          xAdv = await toBoundary(proposal);
          const dn = dist(xAdv);
          if (dn < dist(best)) best = xAdv;
          distance = dn;
        }
        o.onProgress?.({ phase: `image ${i + 1}/${n} step`, done: step + 1, total: o.steps });
      }
    } catch (err) {
      if (!(err instanceof BudgetSpent)) throw err;
    }
    if (best) {
      adv.set(best, i * d);
      found[i] = true;
    }
  }
  return { adv, found, queries };
}

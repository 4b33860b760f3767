import { AttackOutput, AttackProgress, InputBounds, LogitsFn, Nchw, isClearlyAdversarial, logitsAndGrad, logitsOf, perInput } from './common';

/** Options of L2 DeepFool; defaults are foolbox's `L2DeepFoolAttack`, except `candidates`. */
export interface DeepFoolOptions {
  /** Maximum steps. Default 50. */
  steps?: number;
  /** Only the top `candidates` classes of the original input are considered. Default: all classes (foolbox: 10). */
  candidates?: number;
  /** Overshoot factor on the accumulated perturbation. Default 0.02. */
  overshoot?: number;
  /** Input box. Default [0, 1]. */
  bounds?: InputBounds;
  onProgress?: (p: AttackProgress) => void;
}

export const DEEPFOOL_DEFAULTS = { steps: 50, overshoot: 0.02 } as const;

/**
 * Multiclass L2 DeepFool (Moosavi-Dezfooli et al. 2016, https://arxiv.org/abs/1511.04599),
 * as foolbox's `L2DeepFoolAttack` with logit differences: at each step, for the
 * candidate classes k, `f_k = z_k - z_0` and `w_k = grad f_k`; take the k with the
 * smallest `|f_k| / ||w_k||`, add `(|f_k| / ||w_k|| + 1e-4) w_k / ||w_k||` to the total
 * perturbation and set `x = clip(x0 + (1 + overshoot) p_total)`. Inputs already
 * adversarial stay where they are. The Jacobian rows come from one backward pass on
 * the batch replicated once per candidate.
 *
 * Differences from foolbox, on purpose: every class is a candidate by default
 * (foolbox stops at the top 10, which can miss the nearest boundary of a model
 * with more classes); a step counts as adversarial only when clearly so
 * (`isClearlyAdversarial`), so the point returned is one onnxruntime agrees on.
 * Where no adversarial was found, the last iterate is returned.
 */
export function deepFoolL2(model: LogitsFn, x0: Float32Array, shape: Nchw, labels: ArrayLike<number>, opts: DeepFoolOptions = {}): AttackOutput {
  const steps = opts.steps ?? DEEPFOOL_DEFAULTS.steps;
  const overshoot = opts.overshoot ?? DEEPFOOL_DEFAULTS.overshoot;
  const [lo, hi] = opts.bounds ?? [0, 1];
  const n = shape[0];
  const d = perInput(shape);
  const x = Float32Array.from(x0);
  const pTotal = new Float64Array(n * d);

  const first = logitsOf(model, x0, shape);
  const k = first.numClasses;
  const cand = Math.min(opts.candidates ?? k, k);
  if (cand < 2) throw new RangeError(`deepfool: 'candidates' must be >= 2 and the model needs >= 2 classes, got ${cand}`);
  // Classes sorted by decreasing original logit; the first is the one to move away from.
  const classes = Array.from({ length: n }, (_, i) => {
    const row = Array.from({ length: k }, (_, j) => j);
    row.sort((p, q) => first.logits[i * k + q] - first.logits[i * k + p] || p - q);
    return row.slice(0, cand);
  });

  let isAdv: boolean[] = [];
  for (let step = 0; step < steps; step++) {
    const { logits } = logitsOf(model, x, shape);
    isAdv = Array.from({ length: n }, (_, i) => isClearlyAdversarial(logits, i, k, labels[i]));
    if (isAdv.every(Boolean)) break;

    const todo = isAdv.flatMap((adv, i) => (adv ? [] : [i]));
    const r = cand - 1;
    const rep = new Float32Array(todo.length * r * d);
    todo.forEach((i, t) => {
      for (let c = 0; c < r; c++) rep.set(x.subarray(i * d, (i + 1) * d), (t * r + c) * d);
    });
    const { logits: z, grad } = logitsAndGrad(model, rep, [todo.length * r, shape[1], shape[2], shape[3]], (_, kk) => {
      const dy = new Float32Array(todo.length * r * kk);
      todo.forEach((i, t) => {
        for (let c = 0; c < r; c++) {
          dy[(t * r + c) * kk + classes[i][c + 1]] += 1;
          dy[(t * r + c) * kk + classes[i][0]] -= 1;
        }
      });
      return dy;
    });

    todo.forEach((i, t) => {
      let best = -1;
      let bestDist = Infinity;
      let bestNorm = 0;
      for (let c = 0; c < r; c++) {
        const row = t * r + c;
        const loss = z[row * k + classes[i][c + 1]] - z[row * k + classes[i][0]];
        let s = 0;
        for (let p = row * d; p < (row + 1) * d; p++) s += grad[p] * grad[p];
        const gn = Math.sqrt(s);
        const dist = Math.abs(loss) / (gn + 1e-8);
        if (dist < bestDist) {
          bestDist = dist;
          best = row;
          bestNorm = gn;
        }
      }
      const scale = (bestDist + 1e-4) / (bestNorm + 1e-8);
      for (let p = 0; p < d; p++) {
        pTotal[i * d + p] += scale * grad[best * d + p];
        const v = x0[i * d + p] + (1 + overshoot) * pTotal[i * d + p];
        x[i * d + p] = v < lo ? lo : v > hi ? hi : v;
      }
    });
    opts.onProgress?.({ phase: 'step', done: step + 1, total: steps });
  }
  const { logits } = logitsOf(model, x, shape);
  return { adv: x, found: Array.from({ length: n }, (_, i) => isClearlyAdversarial(logits, i, k, labels[i])) };
}

import { AttackOutput, AttackProgress, InputBounds, LogitsFn, Nchw, argmaxRow, bestOtherClass, logitsAndGrad, perInput } from './common';

/** Options of the L2 Carlini & Wagner attack; defaults are foolbox's `L2CarliniWagnerAttack`. */
export interface CwOptions {
  /** Binary-search steps over the constant c. Default 9 (the reference notebook uses 6). */
  binarySearchSteps?: number;
  /** Adam steps within each binary-search step. Default 10000 (the reference notebook uses 8000). */
  steps?: number;
  /** Adam learning rate. Default 0.01. */
  stepsize?: number;
  /** Logit margin required to count as adversarial. Default 0. */
  confidence?: number;
  /** First value of c. Default 1e-3. */
  initialConst?: number;
  /** Stop Adam when the loss has not decreased by 0.01% over a tenth of the steps. Default true. */
  abortEarly?: boolean;
  /** Input box. Default [0, 1]. */
  bounds?: InputBounds;
  /**
   * Called after every binary-search step (`phase: 'binary search step'`, done of
   * binarySearchSteps) and, throttled to every 1% of all Adam steps or 200 ms,
   * within it (`detail: true`, Adam steps done of binarySearchSteps x steps).
   */
  onProgress?: (p: AttackProgress) => void;
  /**
   * The loss of the whole batch that abort early compares, from the loss of each
   * image of this call (float64, image order). Default: their sum in image order.
   * A caller that splits one batch over workers passes the sum, in image order,
   * of every worker's per-image losses (attacks/parallel.ts), so abort early
   * decides exactly as on the whole batch in one thread.
   */
  batchLoss?: (imageLosses: Float64Array) => number;
}

/** Sum in index order (the order a split batch reproduces). */
export function sumInOrder(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

export const CW_DEFAULTS = {
  binarySearchSteps: 9,
  steps: 10000,
  stepsize: 1e-2,
  confidence: 0,
  initialConst: 1e-3,
  abortEarly: true,
} as const;

/**
 * Carlini & Wagner L2 (https://arxiv.org/abs/1608.04644), following foolbox 3's
 * `L2CarliniWagnerAttack` step for step:
 * - optimize `w` with `x = tanh(w) * b + a` (`a`, `b` centre and half-width of the box);
 * - loss `sum_i ||x_i - x~_i||^2 + c_i * max(0, z_y - max_{j != y} z_j + confidence)`,
 *   where `x~ = tanh(atanh(0.999999 (x0 - a) / b)) * b + a`;
 * - Adam (beta1 0.9, beta2 0.999, eps 1e-8) from zero each binary-search step;
 * - abort early when the batch loss did not fall below 0.9999 of its value at the
 *   previous check (every ceil(steps / 10) steps);
 * - c grows tenfold until an adversarial is found, then bisects.
 * Returns the closest adversarial seen at any step, the original where none was found.
 * `labels` are the classes to move away from (the model's predictions).
 */
export function cwL2(model: LogitsFn, x0: Float32Array, shape: Nchw, labels: ArrayLike<number>, opts: CwOptions = {}): AttackOutput {
  const bss = opts.binarySearchSteps ?? CW_DEFAULTS.binarySearchSteps;
  const steps = opts.steps ?? CW_DEFAULTS.steps;
  const lr = opts.stepsize ?? CW_DEFAULTS.stepsize;
  const confidence = opts.confidence ?? CW_DEFAULTS.confidence;
  const abortEarly = opts.abortEarly ?? CW_DEFAULTS.abortEarly;
  const [lo, hi] = opts.bounds ?? [0, 1];
  const n = shape[0];
  const d = perInput(shape);
  const size = n * d;
  const a = (lo + hi) / 2;
  const b = (hi - lo) / 2;

  const xAttack = new Float64Array(size);
  const reconstructed = new Float32Array(size);
  for (let p = 0; p < size; p++) {
    xAttack[p] = Math.atanh(((x0[p] - a) / b) * 0.999999);
    reconstructed[p] = Math.tanh(xAttack[p]) * b + a;
  }

  let consts = new Float64Array(n).fill(opts.initialConst ?? CW_DEFAULTS.initialConst);
  const lower = new Float64Array(n);
  const upper = new Float64Array(n).fill(Infinity);
  const bestAdv = Float32Array.from(x0);
  const bestNorm = new Float64Array(n).fill(Infinity);

  const delta = new Float64Array(size);
  const m = new Float64Array(size);
  const v = new Float64Array(size);
  const x = new Float32Array(size);
  const tanhW = new Float64Array(size);
  const imageLoss = new Float64Array(n);
  const checkEvery = Math.ceil(steps / 10);
  const batchLoss = opts.batchLoss ?? sumInOrder;
  const progress = opts.onProgress;
  const totalSteps = bss * steps;
  const tickUnits = Math.max(1, Math.floor(totalSteps / 100));
  let lastTickUnits = 0;
  let lastTickTime = Date.now();
  const tick = (bs: number, done: number): void => {
    if (!progress) return;
    const units = bs * steps + done;
    const now = Date.now();
    if (units - lastTickUnits < tickUnits && now - lastTickTime < 200 && done < steps) return;
    lastTickUnits = units;
    lastTickTime = now;
    progress({ phase: `binary search step ${bs + 1}/${bss}`, done: units, total: totalSteps, detail: true });
  };
  let gradientSteps = 0;

  for (let bs = 0; bs < bss; bs++) {
    if (bs === bss - 1 && bss >= 10) consts = consts.map((_, i) => Math.min(upper[i], 1e10));
    delta.fill(0);
    m.fill(0);
    v.fill(0);
    const found = new Array<boolean>(n).fill(false);
    let lossAtPreviousCheck = Infinity;

    for (let step = 0; step < steps; step++) {
      for (let p = 0; p < size; p++) {
        const th = Math.tanh(xAttack[p] + delta[p]);
        tanhW[p] = th;
        x[p] = th * b + a;
      }
      gradientSteps++;
      imageLoss.fill(0);
      const {
        logits,
        grad,
        numClasses: k,
      } = logitsAndGrad(model, x, shape, (z, kk) => {
        const out = new Float32Array(n * kk);
        for (let i = 0; i < n; i++) {
          const y = labels[i];
          const j = bestOtherClass(z, i, kk, y);
          const margin = z[i * kk + y] - z[i * kk + j] + confidence;
          if (margin > 0) {
            imageLoss[i] = consts[i] * margin;
            out[i * kk + y] = consts[i];
            out[i * kk + j] = -consts[i];
          }
        }
        return out;
      });
      // Per image: c_i max(0, margin_i) + ||x_i - x~_i||^2, in float64.
      for (let i = 0; i < n; i++) {
        let sq = 0;
        for (let p = i * d; p < (i + 1) * d; p++) {
          const diff = x[p] - reconstructed[p];
          sq += diff * diff;
        }
        imageLoss[i] += sq;
      }

      // Adam on delta: dL/ddelta = dL/dx * b (1 - tanh^2).
      const t = step + 1;
      const bc1 = 1 - Math.pow(0.9, t);
      const bc2 = 1 - Math.pow(0.999, t);
      for (let p = 0; p < size; p++) {
        const g = (2 * (x[p] - reconstructed[p]) + grad[p]) * b * (1 - tanhW[p] * tanhW[p]);
        const mp = 0.9 * m[p] + 0.1 * g;
        const vp = 0.999 * v[p] + 0.001 * g * g;
        m[p] = mp;
        v[p] = vp;
        delta[p] += (-lr * (mp / bc1)) / (Math.sqrt(vp / bc2) + 1e-8);
      }

      if (abortEarly && step % checkEvery === 0) {
        const loss = batchLoss(imageLoss);
        if (!(loss <= 0.9999 * lossAtPreviousCheck)) {
          tick(bs, steps);
          break;
        }
        lossAtPreviousCheck = loss;
      }

      for (let i = 0; i < n; i++) {
        const isAdv = isAdversarial(logits, i, k, labels[i], confidence);
        if (!isAdv) continue;
        found[i] = true;
        let s = 0;
        for (let p = i * d; p < (i + 1) * d; p++) {
          const diff = x[p] - x0[p];
          s += diff * diff;
        }
        const norm = Math.sqrt(s);
        if (norm < bestNorm[i]) {
          bestNorm[i] = norm;
          bestAdv.set(x.subarray(i * d, (i + 1) * d), i * d);
        }
      }
      tick(bs, step + 1);
    }

    for (let i = 0; i < n; i++) {
      if (found[i]) upper[i] = consts[i];
      else lower[i] = consts[i];
      consts[i] = Number.isFinite(upper[i]) ? (lower[i] + upper[i]) / 2 : consts[i] * 10;
    }
    progress?.({ phase: 'binary search step', done: bs + 1, total: bss });
  }
  return { adv: bestAdv, found: Array.from(bestNorm, (nm) => Number.isFinite(nm)), gradientSteps };
}

/** foolbox's criterion with confidence: argmax of the logits with `confidence` added to the label is not the label. */
function isAdversarial(logits: ArrayLike<number>, i: number, k: number, label: number, confidence: number): boolean {
  if (confidence === 0) return argmaxRow(logits, i, k) !== label;
  const row = Array.from({ length: k }, (_, j) => logits[i * k + j] + (j === label ? confidence : 0));
  return argmaxRow(row, 0, k) !== label;
}

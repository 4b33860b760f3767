/**
 * Guaranteed upper bound on the L2 norm of an ONNX Conv (zero padding, any
 * stride, dilation and group count) on its actual input size.
 *
 * Certified bounds, the smallest one wins, each within its own work limit
 * (every multiply-add counted, Lanczos reorthogonalization and Cholesky
 * included, see ./work.ts):
 *  - exact: the Gram matrix A^T A (or A A^T) of the conv's explicit matrix is
 *    banded, so it is formed in float64 and its largest eigenvalue certified
 *    by a banded Cholesky factorization (see @lip/train conv_norm_bound).
 *    Tight to ~1e-8, used while it fits EXACT_WORK_LIMIT / EXACT_MEMORY_LIMIT.
 *    Skipped when the circular bound c is already within EXACT_GAIN_TOLERANCE
 *    of the norm: a lower estimate theta <= lambda_max(A^T A) (first the
 *    largest squared norm of a column of A that every tap reads, then up to
 *    EXACT_GATE_STEPS Lanczos steps on x -> A^T A x: the conv and its
 *    transpose, no band, Ritz values below lambda_max by Paige), and the
 *    exact bound is >= sqrt(lambda_max) (1 + margin), so
 *    c <= sqrt(theta) (1 + margin) (1 + tol) leaves it less than tol to gain.
 *    Nearly orthogonal kernels (the ones lip trains) land here: their Gram's
 *    top eigenvalues cluster, so the full Lanczos would need all its steps
 *    and a wide shift, and lose to the circular bound anyway.
 *  - circular: Sedghi et al. 2019 on an (h + k - 1) x (w + k - 1) grid, loose
 *    by a few percent on small inputs; within CIRCULAR_WORK_LIMIT (a frequency
 *    whose eigenvalue certificate no longer fits gets its trace bound).
 *  - when neither fits, two cheap bounds, the smaller one:
 *    patch: y[:, o] = K_mat P_o(x) with K_mat the cout x (cin kh kw) kernel
 *      matrix and P_o the patch of window o, so
 *      ||y||^2 <= ||K_mat||^2 sum_o ||P_o x||^2 <= ||K_mat||^2 cover ||x||^2,
 *      cover the most windows one input cell is read by;
 *    one-inf: sqrt(||A||_1 ||A||_inf) <= sqrt(max_ci sum_{co,t} |K| * max_co sum_{ci,t} |K|).
 * Kernels far from 1 (below 2^-300 or above 2^300) are scaled by a power of
 * two first, so nothing underflows to a zero bound.
 */
import { BOUND_SAFETY_MARGIN, circularConvNormUpperBound, emptyBand, lambdaMaxBelow, roundoffGamma } from '@lip/core/linalg';
import { denseNormUpperBound, unscaleUp } from './dense';
import { axisNorms, WindowAxis } from './pool';
import { mulUp, nextUp, sqrtUp, timesPow2 } from './rounding';
import { certifiedLambdaMax, choleskyWork, lambdaMaxMemory, lambdaMaxWork, ritzLowerEstimate, WorkLimitExceeded, WorkMeter } from './work';

/** Largest number of multiply-adds spent on the exact (Cholesky) bound of one conv (all groups). */
export const EXACT_WORK_LIMIT = 1.5e9;
/** Largest number of doubles an exact bound allocates at once (band, its Cholesky copy, the Lanczos basis). */
export const EXACT_MEMORY_LIMIT = 4e7;
/** Largest number of multiply-adds of the circular (Sedghi) bound of one conv (all groups). */
export const CIRCULAR_WORK_LIMIT = 2e9;
/** The exact bound is computed only when it could be below the circular one by more than this (relative; see the module doc). */
export const EXACT_GAIN_TOLERANCE = 1e-4;
/** Most Lanczos steps of the test that skips the exact bound (lip's orthogonal convs pass it after 12 to 16), checked every 4. */
export const EXACT_GATE_STEPS = 32;
const EXACT_GATE_CHECK_EVERY = 4;

export interface ConvBoundGeometry {
  cout: number;
  /** Input channels per group. */
  cinPerGroup: number;
  group: number;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right]. */
  pads: [number, number, number, number];
  inHW: [number, number];
  outHW: [number, number];
}

export interface ConvBound {
  bound: number;
  /** The bound that won. */
  method: 'exact' | 'circular' | 'patch' | 'one-inf';
  /** The circular (Sedghi) bound when it was computed. */
  circular: number | null;
  /** The exact-Gram bound when it was computed. */
  exact: number | null;
  /** Why a cheaper bound was used, for the layer table ('' when exact or circular won). */
  note: string;
}

/** One group's kernel `[coutG, cinG, kh, kw]` (dilations expanded), in float64. */
export type GroupKernel = { k: Float64Array; coutG: number; cinG: number; kh: number; kw: number };

/** Work limits of the conv bounds (multiply-adds for all groups together). */
export interface ConvWorkLimits {
  exact: number;
  circular: number;
}

/**
 * Bound for an ONNX Conv with weights `w` `[cout, cin/group, kh, kw]`
 * (finite values). `allowExact = false` skips the exact bound.
 */
export function convNormUpperBound(
  w: ArrayLike<number>,
  g: ConvBoundGeometry,
  allowExact = true,
  limits: ConvWorkLimits = { exact: EXACT_WORK_LIMIT, circular: CIRCULAR_WORK_LIMIT },
): ConvBound {
  let maxAbs = 0;
  for (let i = 0; i < w.length; i++) maxAbs = Math.max(maxAbs, Math.abs(w[i]));
  if (maxAbs === 0) return { bound: 0, method: 'exact', circular: null, exact: 0, note: '' };
  // Scaling up by 2^e is exact; scaling down rounds entries that become subnormal by at most 2^-1075 each.
  const e = maxAbs < 2 ** -300 || maxAbs > 2 ** 300 ? -Math.floor(Math.log2(maxAbs)) : 0;
  const scaleError = e < 0 ? Math.sqrt(w.length) * 2 ** -1074 : 0;
  const notes = new Set<string>();
  let best = 0;
  let circ: number | null = 0;
  let exactMax: number | null = 0;
  let method: ConvBound['method'] = 'exact';
  // One budget per bound for all groups together.
  const exactMeter = new WorkMeter(limits.exact, EXACT_MEMORY_LIMIT);
  const circularMeter = new WorkMeter(limits.circular);
  for (let grp = 0; grp < g.group; grp++) {
    const gk = groupKernel(w, g, grp, e);
    const c = circularBound(gk, g, notes, circularMeter);
    if (c === null) circ = null;
    else if (circ !== null) circ = Math.max(circ, c);
    const x = allowExact ? exactBound(gk, g, notes, exactMeter, c) : null;
    if (x === null) exactMax = null;
    else if (exactMax !== null) exactMax = Math.max(exactMax, x);
    let groupBest: number;
    let groupMethod: ConvBound['method'];
    if (x !== null && (c === null || x < c)) [groupBest, groupMethod] = [x, 'exact'];
    else if (c !== null) [groupBest, groupMethod] = [c, 'circular'];
    else {
      const cheap = cheapBound(gk, g);
      [groupBest, groupMethod] = [cheap.bound, cheap.method];
    }
    if (groupBest >= best) {
      best = groupBest;
      method = groupMethod;
    }
  }
  if (scaleError > 0) best = nextUp(best + scaleError);
  const bound = e === 0 ? best : unscaleUp(best, e);
  const note = method === 'patch' || method === 'one-inf' ? [...notes].join('; ') : '';
  return { bound, method, circular: circ, exact: exactMax, note };
}

/** The group's kernel `[coutG, cinG, khe, kwe]` in float64 times 2^e, dilations expanded into zeros. */
function groupKernel(w: ArrayLike<number>, g: ConvBoundGeometry, grp: number, e: number): GroupKernel {
  const coutG = g.cout / g.group;
  const cinG = g.cinPerGroup;
  const [kh0, kw0] = g.kernel;
  const [dh, dw] = g.dilations;
  const kh = (kh0 - 1) * dh + 1;
  const kw = (kw0 - 1) * dw + 1;
  const k = new Float64Array(coutG * cinG * kh * kw);
  for (let co = 0; co < coutG; co++) {
    for (let ci = 0; ci < cinG; ci++) {
      for (let y = 0; y < kh0; y++) {
        for (let x = 0; x < kw0; x++) {
          const v = w[(((grp * coutG + co) * cinG + ci) * kh0 + y) * kw0 + x];
          k[((co * cinG + ci) * kh + y * dh) * kw + x * dw] = e === 0 ? v : timesPow2(v, e);
        }
      }
    }
  }
  return { k, coutG, cinG, kh, kw };
}

/**
 * Certified largest singular value of the circular convolution on the
 * (h + kh - 1) x (w + kw - 1) grid (Sedghi et al. 2019), with the arithmetic
 * of @lip/train's `circularConvNormUpperBound` (per frequency: the kernel's
 * DFT K^, its Hermitian Gram, a certified lambda_max, all rounding bounded),
 * BOUND_SAFETY_MARGIN included. Null when the transforms and Grams alone
 * exceed CIRCULAR_WORK_LIMIT; a frequency whose eigenvalue certificate no
 * longer fits gets the trace bound sqrt(||K^||_F^2).
 */
function circularBound(gk: GroupKernel, g: ConvBoundGeometry, notes: Set<string>, meter: WorkMeter): number | null {
  const { k: kOihw, coutG: cout, cinG: cin, kh, kw } = gk;
  const n1 = g.inHW[0] + kh - 1;
  const n2 = g.inHW[1] + kw - 1;
  const taps = kh * kw;
  const n = Math.min(cin, cout);
  const freqs = Math.floor((n1 * n2) / 2) + 2;
  const perFrequency = 2 * taps * cin * cout + ((4 * n * (n + 1)) / 2) * Math.max(cin, cout) + n;
  if (!meter.fits(freqs * perFrequency + (n1 + n2) * Math.max(kh, kw) + taps * cin * cout)) {
    notes.add(`circular bound over its work limit (${fmt(freqs * perFrequency)} more multiply-adds than the ${fmt(meter.limit - meter.used)} left)`);
    return null;
  }
  meter.charge(freqs * perFrequency, 'circular transforms');
  // k[((y * kw + x) * cin + ci) * cout + co] (the layout the reference bound uses).
  const k = new Float64Array(kOihw.length);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) k[((y * kw + x) * cin + ci) * cout + co] = kOihw[((co * cin + ci) * kh + y) * kw + x];
    }
  }
  let traceOnly = 0;
  // The frequencies' eigenvalue certificates are metered; one that no longer fits takes its trace bound.
  const best = circularConvNormUpperBound(
    k,
    kh,
    kw,
    cin,
    cout,
    n1,
    n2,
    (band, entryError, size, enough) => {
      // A frequency that cannot raise the bound needs one Cholesky factorization to show it, not a Lanczos estimate.
      if (enough > 0 && meter.fits(choleskyWork(size, size - 1))) {
        meter.charge(choleskyWork(size, size - 1), 'circular bound (Cholesky)');
        const below = lambdaMaxBelow(band, entryError, enough);
        if (below !== null) return below;
      }
      return meter.fits(lambdaMaxWork(size, size - 1) + choleskyWork(size, size - 1)) ? certifiedLambdaMax(band, entryError, meter, 'circular bound') : null;
    },
    () => {
      traceOnly++;
    },
  );
  if (traceOnly > 0) notes.add(`${traceOnly} frequencies bounded by their trace (work limit)`);
  return best * (1 + BOUND_SAFETY_MARGIN);
}

function fmt(x: number): string {
  return x.toExponential(1);
}

/** Whether input row (or column) i is kept by every output that reads it: i + pad - (k - 1) >= 0 and i + pad <= (nOut - 1) stride. */
function inside(i: number, pad: number, k: number, nOut: number, stride: number): boolean {
  return i + pad - (k - 1) >= 0 && i + pad <= (nOut - 1) * stride;
}

/**
 * The gate's start: input cells ([ci, iy, ix] order) every output that reads
 * them is kept, i.e. rows iy with iy + pt - (kh - 1) >= 0 and
 * iy + pt <= (Ho - 1) sh (likewise columns). On them the zero padding cuts
 * nothing, so for a paraunitary kernel (lip's orthogonal convs, an isometry
 * of the infinite grid) ||A x|| = ||x||: the first Ritz value is already
 * lambda_max = 1 and the gate passes after one step instead of 12 to 16.
 * Any start is sound: the gate only chooses between two certified bounds.
 */
export function interiorSupport(
  cin: number,
  [H, W]: [number, number],
  [Ho, Wo]: [number, number],
  [sh, sw]: [number, number],
  [pt, pl]: [number, number],
  [kh, kw]: [number, number],
): Uint8Array {
  const support = new Uint8Array(cin * H * W);
  for (let iy = 0; iy < H; iy++) {
    if (!inside(iy, pt, kh, Ho, sh)) continue;
    for (let ix = 0; ix < W; ix++) {
      if (!inside(ix, pl, kw, Wo, sw)) continue;
      for (let ci = 0; ci < cin; ci++) support[(ci * H + iy) * W + ix] = 1;
    }
  }
  return support;
}

/**
 * The largest squared norm of a column of the conv's matrix at an input cell
 * that every tap reads (stride 1, a cell far enough from the borders):
 * max over input channels ci of sum over (co, ty, tx) of k[co, ci, ty, tx]^2,
 * a lower estimate of ||A||^2 (||A|| >= ||A e||). 0 when no cell is read by
 * every tap (strides, or an input smaller than the kernel's reach). For
 * lip's orthogonal convs it is 1 (each column is a unit vector), so the
 * exact bound's gate passes without a Lanczos step. It only decides which of
 * two certified bounds to compute.
 */
export function interiorColumnNormSquared(gk: GroupKernel, g: ConvBoundGeometry): number {
  const { k, cinG, coutG, kh, kw } = gk;
  const [H, W] = g.inHW;
  const [Ho, Wo] = g.outHW;
  const [pt, pl] = g.pads;
  if (g.strides[0] !== 1 || g.strides[1] !== 1) return 0;
  // With stride 1, a cell kept by every output that reads it (`inside`, as in `interiorSupport`) is read by every tap.
  const someInside = (n: number, pad: number, kernel: number, nOut: number): boolean => {
    for (let i = 0; i < n; i++) if (inside(i, pad, kernel, nOut, 1)) return true;
    return false;
  };
  if (!someInside(H, pt, kh, Ho) || !someInside(W, pl, kw, Wo)) return 0;
  const taps = kh * kw;
  let best = 0;
  for (let ci = 0; ci < cinG; ci++) {
    let s = 0;
    for (let co = 0; co < coutG; co++) {
      const base = (co * cinG + ci) * taps;
      for (let t = 0; t < taps; t++) s += k[base + t] * k[base + t];
    }
    best = Math.max(best, s);
  }
  return best;
}

/**
 * Exact-Gram certified bound, or null when it does not fit its work or memory
 * limit, or cannot beat the circular bound `circular` by more than EXACT_GAIN_TOLERANCE.
 */
function exactBound(gk: GroupKernel, g: ConvBoundGeometry, notes: Set<string>, meter: WorkMeter, circular: number | null): number | null {
  const { k, cinG, coutG, kh, kw } = gk;
  const [H, W] = g.inHW;
  const [Ho, Wo] = g.outHW;
  const [sh, sw] = g.strides;
  const [pt, pl] = g.pads;
  const dIn = cinG * H * W;
  const bIn = Math.min(dIn - 1, ((kh - 1) * W + (kw - 1)) * cinG + cinG - 1);
  const dOut = coutG * Ho * Wo;
  const bOut = Math.min(dOut - 1, (Math.floor((kh - 1) / sh) * Wo + Math.floor((kw - 1) / sw)) * coutG + coutG - 1);
  if (dIn === 0 || dOut === 0) return 0;
  const taps = kh * kw;
  // Forming the band, then the certificate (Lanczos with reorthogonalization, Cholesky) on it.
  const workIn = Ho * Wo * (cinG * taps) ** 2 + coutG * (cinG * taps) ** 2 + lambdaMaxWork(dIn, bIn);
  const workOut = H * W * (Math.ceil(kh / sh) * Math.ceil(kw / sw) * coutG) ** 2 + taps * taps * coutG * coutG * cinG + lambdaMaxWork(dOut, bOut);
  const useIn = workIn <= workOut;
  const work = useIn ? workIn : workOut;
  const mem = useIn ? dIn * (bIn + 1) + lambdaMaxMemory(dIn, bIn) : dOut * (bOut + 1) + lambdaMaxMemory(dOut, bOut);
  if (!meter.fits(work, mem)) {
    notes.add(
      `exact bound over its ${
        mem <= meter.memoryLimit
          ? `work limit (${fmt(work)} more multiply-adds than the ${fmt(meter.limit - meter.used)} left)`
          : `memory limit (${fmt(mem)} > ${fmt(EXACT_MEMORY_LIMIT)} doubles)`
      }`,
    );
    return null;
  }
  // Skipped when it cannot beat the circular bound by more than EXACT_GAIN_TOLERANCE (see the module doc).
  const lowEnough = (theta: number): boolean =>
    circular !== null && circular <= Math.sqrt(Math.max(theta, 0)) * (1 + BOUND_SAFETY_MARGIN) * (1 + EXACT_GAIN_TOLERANCE);
  // First the cheapest lower estimate: ||A e|| for the unit input at a cell every tap reads (a column of A).
  if (lowEnough(interiorColumnNormSquared(gk, g))) return null;
  const gateWork = EXACT_GATE_STEPS * 2 * Ho * Wo * coutG * cinG * taps;
  if (circular !== null && meter.fits(work + gateWork)) {
    meter.charge(gateWork, 'exact conv bound (gate)');
    const start = interiorSupport(cinG, [H, W], [Ho, Wo], [sh, sw], [pt, pl], [kh, kw]);
    if (lowEnough(ritzLowerEstimate(dIn, convGramOperator(gk, g), EXACT_GATE_STEPS, lowEnough, EXACT_GATE_CHECK_EVERY, start))) return null;
  }
  meter.charge(work - lambdaMaxWork(useIn ? dIn : dOut, useIn ? bIn : bOut), 'conv Gram band');

  const at = (co: number, ci: number, y: number, x: number): number => k[((co * cinG + ci) * kh + y) * kw + x];
  const band = useIn ? emptyBand(dIn, bIn) : emptyBand(dOut, bOut);
  const bw = band.b + 1;
  const add = (i: number, j: number, v: number): void => {
    if (i <= j) band.data[i * bw + (j - i)] += v;
  };

  if (useIn) {
    // A^T A over input index p = (iy W + ix) cinG + ci: sum over output rows of (row)^T (row).
    // KtK[t1][t2] = sum_co K[co, t1] K[co, t2], with t = (ci, y, x).
    const L = cinG * taps;
    const ktk = new Float64Array(L * L);
    for (let co = 0; co < coutG; co++) {
      const row = k.subarray(co * L, (co + 1) * L);
      for (let t1 = 0; t1 < L; t1++) {
        const v = row[t1];
        if (v === 0) continue;
        for (let t2 = 0; t2 < L; t2++) ktk[t1 * L + t2] += v * row[t2];
      }
    }
    const pIdx = new Int32Array(L);
    const tIdx = new Int32Array(L);
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        let m = 0;
        for (let ci = 0; ci < cinG; ci++) {
          for (let y = 0; y < kh; y++) {
            const iy = oy * sh - pt + y;
            if (iy < 0 || iy >= H) continue;
            for (let x = 0; x < kw; x++) {
              const ix = ox * sw - pl + x;
              if (ix < 0 || ix >= W) continue;
              pIdx[m] = (iy * W + ix) * cinG + ci;
              tIdx[m] = (ci * kh + y) * kw + x;
              m++;
            }
          }
        }
        for (let a = 0; a < m; a++) {
          for (let b = 0; b < m; b++) add(pIdx[a], pIdx[b], ktk[tIdx[a] * L + tIdx[b]]);
        }
      }
    }
  } else {
    // A A^T over output index q = (oy Wo + ox) coutG + co: sum over input pixels of (col)(col)^T.
    // KKt[(t1, t2)][co1][co2] = sum_ci K[co1, ci, t1] K[co2, ci, t2], t = (y, x).
    const kkt = new Float64Array(taps * taps * coutG * coutG);
    for (let t1 = 0; t1 < taps; t1++) {
      for (let t2 = 0; t2 < taps; t2++) {
        const base = (t1 * taps + t2) * coutG * coutG;
        for (let c1 = 0; c1 < coutG; c1++) {
          for (let c2 = 0; c2 < coutG; c2++) {
            let s = 0;
            for (let ci = 0; ci < cinG; ci++) {
              s += at(c1, ci, Math.floor(t1 / kw), t1 % kw) * at(c2, ci, Math.floor(t2 / kw), t2 % kw);
            }
            kkt[base + c1 * coutG + c2] = s;
          }
        }
      }
    }
    const outs: number[] = [];
    const tapsOf: number[] = [];
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++) {
        outs.length = 0;
        tapsOf.length = 0;
        for (let y = 0; y < kh; y++) {
          const ny = iy + pt - y;
          if (ny < 0 || ny % sh !== 0) continue;
          const oy = ny / sh;
          if (oy >= Ho) continue;
          for (let x = 0; x < kw; x++) {
            const nx = ix + pl - x;
            if (nx < 0 || nx % sw !== 0) continue;
            const ox = nx / sw;
            if (ox >= Wo) continue;
            outs.push(oy * Wo + ox);
            tapsOf.push(y * kw + x);
          }
        }
        for (let a = 0; a < outs.length; a++) {
          for (let b = 0; b < outs.length; b++) {
            const base = (tapsOf[a] * taps + tapsOf[b]) * coutG * coutG;
            for (let c1 = 0; c1 < coutG; c1++) {
              const i = outs[a] * coutG + c1;
              for (let c2 = 0; c2 < coutG; c2++) add(i, outs[b] * coutG + c2, kkt[base + c1 * coutG + c2]);
            }
          }
        }
      }
    }
  }

  // ||M_computed - M||_2 <= gamma_T || |A|^T |A| ||_2 <= gamma_T ||A||_1 ||A||_inf.
  const { maxRow, maxCol } = kernelAbsSums(gk);
  const terms = (cinG + coutG) * taps * taps + 8;
  const entryError = roundoffGamma(terms) * maxRow * maxCol * 1.001;
  let upper: number;
  try {
    upper = certifiedLambdaMax(band, entryError, meter, 'exact conv bound');
  } catch (err) {
    if (!(err instanceof WorkLimitExceeded)) throw err;
    notes.add(`exact bound over its work limit (${err.what})`);
    return null;
  }
  return Math.sqrt(Math.max(upper, 0)) * (1 + 1e-15) * (1 + BOUND_SAFETY_MARGIN);
}

/** A group's conv as the gate's operator walks it (dilation is in the kernel). */
interface GramGeometry {
  cinG: number;
  coutG: number;
  kh: number;
  kw: number;
  H: number;
  W: number;
  Ho: number;
  Wo: number;
  sh: number;
  sw: number;
  pt: number;
  pl: number;
}

/**
 * x -> A^T A x for the group's conv A (zero padding, strides; dilation is in
 * the kernel), on inputs indexed (ci, iy, ix): the conv, then its transpose.
 * Each entry is one dot product over the taps that reach it, summed in the
 * order of the explicit loops (out[co, oy, ox] over (ci, ty, tx), y[ci, iy, ix]
 * over (co, ty, tx)); a zero weight adds a signed zero, which changes no value.
 * The loops live in small module-level functions, which V8 optimizes within
 * a few calls (a cold `lip verify` applies this operator only some 50 times).
 */
export function convGramOperator(gk: GroupKernel, g: ConvBoundGeometry): (x: Float64Array, y: Float64Array) => void {
  const { k, cinG, coutG, kh, kw } = gk;
  const [H, W] = g.inHW;
  const [Ho, Wo] = g.outHW;
  const [sh, sw] = g.strides;
  const [pt, pl] = g.pads;
  const geo: GramGeometry = { cinG, coutG, kh, kw, H, W, Ho, Wo, sh, sw, pt, pl };
  const taps = kh * kw;
  // kT[ci][(co, ty, tx)] = k[co][(ci, ty, tx)]: the rows of the transpose.
  const kT = new Float64Array(k.length);
  for (let co = 0; co < coutG; co++) {
    for (let ci = 0; ci < cinG; ci++) for (let t = 0; t < taps; t++) kT[(ci * coutG + co) * taps + t] = k[(co * cinG + ci) * taps + t];
  }
  // Input row iy is read by tap ty of output row (iy + pt - ty) / sh where that is an integer in [0, Ho) (likewise columns).
  const reaching = (n: number, pad: number, stride: number, nOut: number, kernel: number): Int32Array[] =>
    Array.from({ length: n }, (_, i) => {
      const list: number[] = [];
      for (let t = 0; t < kernel; t++) {
        const o = i + pad - t;
        if (o >= 0 && o % stride === 0 && o / stride < nOut) list.push(t);
      }
      return Int32Array.from(list);
    });
  const tysOf = reaching(H, pt, sh, Ho, kh);
  const txsOf = reaching(W, pl, sw, Wo, kw);
  const out = new Float64Array(coutG * Ho * Wo);
  const vals = new Float64Array(Math.max(cinG, coutG) * taps);
  const offs = new Int32Array(vals.length);
  return (x, y) => {
    convForward(geo, k, x, out, vals, offs);
    convTranspose(geo, kT, tysOf, txsOf, out, y, vals, offs);
  };
}

/** out[co, oy, ox] = sum over (ci, ty, tx) reaching the image of k[co, ci, ty, tx] x[ci, oy sh - pt + ty, ox sw - pl + tx]. */
function convForward(geo: GramGeometry, k: Float64Array, x: Float64Array, out: Float64Array, vals: Float64Array, offs: Int32Array): void {
  const { cinG, coutG, kh, kw, Ho, Wo } = geo;
  for (let oy = 0; oy < Ho; oy++) {
    for (let ox = 0; ox < Wo; ox++) {
      const m = gatherPatch(geo, x, oy, ox, vals, offs);
      gatherDots(k, cinG * kh * kw, coutG, offs, vals, m, out, oy * Wo + ox, Ho * Wo);
    }
  }
}

/** The inputs output cell (oy, ox) reads, in order (ci, ty, tx), into `vals`, their kernel offsets (ci kh + ty) kw + tx into `offs`; returns their count. */
function gatherPatch(geo: GramGeometry, x: Float64Array, oy: number, ox: number, vals: Float64Array, offs: Int32Array): number {
  const { cinG, kh, kw, H, W, sh, sw, pt, pl } = geo;
  // Taps ty in [ty0, ty1) read rows inside the image (likewise tx).
  const ty0 = Math.max(0, pt - oy * sh);
  const ty1 = Math.min(kh, H + pt - oy * sh);
  const tx0 = Math.max(0, pl - ox * sw);
  const tx1 = Math.min(kw, W + pl - ox * sw);
  let m = 0;
  for (let ci = 0; ci < cinG; ci++) {
    for (let ty = ty0; ty < ty1; ty++) {
      const row = (ci * H + oy * sh - pt + ty) * W + ox * sw - pl;
      const off = (ci * kh + ty) * kw;
      for (let tx = tx0; tx < tx1; tx++) {
        offs[m] = off + tx;
        vals[m++] = x[row + tx];
      }
    }
  }
  return m;
}

/** y[ci, iy, ix] = sum over (co, ty, tx) of k[co, ci, ty, tx] out[co, oy, ox] for the output cells (oy, ox) that read (iy, ix) by tap (ty, tx). */
function convTranspose(
  geo: GramGeometry,
  kT: Float64Array,
  tysOf: readonly Int32Array[],
  txsOf: readonly Int32Array[],
  out: Float64Array,
  y: Float64Array,
  vals: Float64Array,
  offs: Int32Array,
): void {
  const { cinG, coutG, kh, kw, H, W } = geo;
  for (let iy = 0; iy < H; iy++) {
    for (let ix = 0; ix < W; ix++) {
      const m = gatherReaders(geo, out, iy, tysOf[iy], ix, txsOf[ix], vals, offs);
      gatherDots(kT, coutG * kh * kw, cinG, offs, vals, m, y, iy * W + ix, H * W);
    }
  }
}

/**
 * The outputs that read input cell (iy, ix), in order (co, ty, tx) over the taps `tys` x `txs` that reach it,
 * into `vals`, their offsets co kh kw + ty kw + tx in a row of kT into `offs`; returns their count.
 */
function gatherReaders(
  geo: GramGeometry,
  out: Float64Array,
  iy: number,
  tys: Int32Array,
  ix: number,
  txs: Int32Array,
  vals: Float64Array,
  offs: Int32Array,
): number {
  const { coutG, kh, kw, Ho, Wo, sh, sw, pt, pl } = geo;
  const taps = kh * kw;
  let m = 0;
  for (let co = 0; co < coutG; co++) {
    for (let a = 0; a < tys.length; a++) {
      const ty = tys[a];
      const row = (co * Ho + (iy + pt - ty) / sh) * Wo;
      for (let c = 0; c < txs.length; c++) {
        const tx = txs[c];
        offs[m] = co * taps + ty * kw + tx;
        vals[m++] = out[row + (ix + pl - tx) / sw];
      }
    }
  }
  return m;
}

/**
 * dst[at + r stride] = sum_{j < m} w[r rowLength + offs[j]] vals[j] for r < rows,
 * each summed in order of j. Four rows run side by side: their sums are
 * independent, so the adds overlap instead of waiting on one another.
 */
function gatherDots(
  w: Float64Array,
  rowLength: number,
  rows: number,
  offs: Int32Array,
  vals: Float64Array,
  m: number,
  dst: Float64Array,
  at: number,
  stride: number,
): void {
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const b0 = r * rowLength;
    const b1 = b0 + rowLength;
    const b2 = b1 + rowLength;
    const b3 = b2 + rowLength;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < m; j++) {
      const o = offs[j];
      const v = vals[j];
      s0 += w[b0 + o] * v;
      s1 += w[b1 + o] * v;
      s2 += w[b2 + o] * v;
      s3 += w[b3 + o] * v;
    }
    dst[at + r * stride] = s0;
    dst[at + (r + 1) * stride] = s1;
    dst[at + (r + 2) * stride] = s2;
    dst[at + (r + 3) * stride] = s3;
  }
  for (; r < rows; r++) {
    const b = r * rowLength;
    let s = 0;
    for (let j = 0; j < m; j++) s += w[b + offs[j]] * vals[j];
    dst[at + r * stride] = s;
  }
}

/** max_co sum_{ci,t} |K| (row sums of the conv matrix) and max_ci sum_{co,t} |K| (column sums). */
function kernelAbsSums(gk: GroupKernel): { maxRow: number; maxCol: number } {
  const { k, cinG, coutG, kh, kw } = gk;
  const taps = kh * kw;
  let maxRow = 0;
  for (let co = 0; co < coutG; co++) {
    let s = 0;
    for (let i = co * cinG * taps; i < (co + 1) * cinG * taps; i++) s += Math.abs(k[i]);
    maxRow = Math.max(maxRow, s);
  }
  let maxCol = 0;
  for (let ci = 0; ci < cinG; ci++) {
    let s = 0;
    for (let co = 0; co < coutG; co++) for (let t = 0; t < taps; t++) s += Math.abs(k[(co * cinG + ci) * taps + t]);
    maxCol = Math.max(maxCol, s);
  }
  return { maxRow, maxCol };
}

/** The smaller of the patch and one-inf bounds (see the module comment), rounded up. */
function cheapBound(gk: GroupKernel, g: ConvBoundGeometry): { bound: number; method: 'patch' | 'one-inf' } {
  const { k, cinG, coutG, kh, kw } = gk;
  const taps = kh * kw;
  // Windows of the dilated (dense) kernel: kh x kw taps, dilation 1.
  const axes: WindowAxis[] = [0, 1].map((i) => ({
    n: g.inHW[i],
    kernel: i === 0 ? kh : kw,
    stride: g.strides[i],
    dilation: 1,
    padBegin: g.pads[i],
    padEnd: g.pads[i + 2],
    out: g.outHW[i],
  }));
  const cover = axes.reduce((a, ax) => a * axisNorms(ax, false).maxCover, 1);
  const kMat = denseNormUpperBound(k, coutG, cinG * taps);
  const patch = mulUp(kMat.bound, sqrtUp(cover));
  const { maxRow, maxCol } = kernelAbsSums(gk);
  const slack = (1 + roundoffGamma(cinG * taps + 2)) * (1 + roundoffGamma(coutG * taps + 2));
  const oneInf = sqrtUp(mulUp(mulUp(maxRow, maxCol), slack));
  return patch <= oneInf ? { bound: patch, method: 'patch' } : { bound: oneInf, method: 'one-inf' };
}

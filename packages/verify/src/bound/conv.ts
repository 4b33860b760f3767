/**
 * Guaranteed upper bound on the L2 norm of an ONNX Conv (zero padding, any
 * stride, dilation and group count) on its actual input size.
 *
 * Two certified bounds, the smaller one wins:
 *  - exact: the Gram matrix A^T A (or A A^T) of the conv's explicit matrix is
 *    banded, so it is formed in float64 and its largest eigenvalue certified
 *    by a banded Cholesky factorization (see @lip/train conv_norm_bound).
 *    Tight to ~1e-8, used while the work stays below EXACT_WORK_LIMIT.
 *  - circular: Sedghi et al. 2019 on an (h + k - 1) x (w + k - 1) grid
 *    (`convSpectralNormUpperBound`), loose by a few percent on small inputs.
 */
import {
  ModelError,
  BOUND_SAFETY_MARGIN,
  convSpectralNormUpperBound,
  emptyBand,
  roundoffGamma,
  symmetricLambdaMaxUpperBound,
} from '@lip/train';

/** Largest number of multiply-adds spent on an exact (Cholesky) bound per conv group. */
export const EXACT_WORK_LIMIT = 1.5e9;
/** Largest band (d * (b + 1) doubles) an exact bound may allocate. */
export const EXACT_MEMORY_LIMIT = 4e7;
/** Largest estimated multiply-adds of a circular (Sedghi) bound per conv group: a few seconds. */
export const CIRCULAR_WORK_LIMIT = 4e9;

export interface ConvGeometry {
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
  method: 'exact' | 'circular';
  /** The circular (Sedghi) bound, for the report. */
  circular: number;
  /** The exact-Gram bound when it was computed. */
  exact: number | null;
}

/**
 * Bound for an ONNX Conv with weights `w` `[cout, cin/group, kh, kw]`.
 * `allowExact = false` forces the circular bound. Throws a ModelError (naming
 * `file` and `node`) when both bounds would take longer than their work limits.
 */
export function convNormUpperBound(w: Float32Array | Float64Array, g: ConvGeometry, allowExact = true,
  file = 'the model', node = 'Conv'): ConvBound {
  const coutG = g.cout / g.group;
  let best = 0;
  let circ = 0;
  let exactMax: number | null = 0;
  let method: 'exact' | 'circular' = 'exact';
  for (let grp = 0; grp < g.group; grp++) {
    const k = groupKernel(w, g, grp);
    const c = circularWork(k, g) <= CIRCULAR_WORK_LIMIT ? circularBound(k, g) : Infinity;
    circ = Math.max(circ, c);
    const e = allowExact ? exactBound(k, g, coutG) : null;
    if (e === null) exactMax = null;
    else if (exactMax !== null) exactMax = Math.max(exactMax, e);
    if (e !== null && e < c) {
      best = Math.max(best, e);
    } else {
      best = Math.max(best, c);
      method = 'circular';
    }
  }
  if (!Number.isFinite(best)) {
    throw new ModelError(`${file}: node '${node}' (Conv) is too large to bound (${g.cout}x${g.cinPerGroup} channels, ` +
      `${g.kernel.join('x')} kernel on ${g.inHW.join('x')} inputs): both certified conv bounds exceed their work limits.`);
  }
  return { bound: best, method, circular: circ, exact: exactMax };
}

/** The group's kernel `[coutG, cinG, khe, kwe]` in float64, dilations expanded into zeros. */
function groupKernel(w: Float32Array | Float64Array, g: ConvGeometry, grp: number): { k: Float64Array; coutG: number; cinG: number; kh: number; kw: number } {
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
          k[((co * cinG + ci) * kh + y * dh) * kw + x * dw] = w[(((grp * coutG + co) * cinG + ci) * kh0 + y) * kw0 + x];
        }
      }
    }
  }
  return { k, coutG, cinG, kh, kw };
}

/** Multiply-adds of `circularBound`: per frequency (half the grid), the kernel transform and an SVD-sized step. */
function circularWork(gk: ReturnType<typeof groupKernel>, g: ConvGeometry): number {
  const grid = (g.inHW[0] + gk.kh - 1) * (g.inHW[1] + gk.kw - 1);
  return (grid / 2) * gk.coutG * gk.cinG * (gk.kh * gk.kw + Math.min(gk.coutG, gk.cinG));
}

function circularBound(gk: ReturnType<typeof groupKernel>, g: ConvGeometry): number {
  const { k, coutG, cinG, kh, kw } = gk;
  const tf = new Float64Array(k.length);
  for (let co = 0; co < coutG; co++) {
    for (let ci = 0; ci < cinG; ci++) {
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) tf[((y * kw + x) * cinG + ci) * coutG + co] = k[((co * cinG + ci) * kh + y) * kw + x];
    }
  }
  return convSpectralNormUpperBound(tf, [kh, kw, cinG, coutG], g.inHW, g.strides, 'valid');
}

/** Exact-Gram certified bound, or null when too expensive. */
function exactBound(gk: ReturnType<typeof groupKernel>, g: ConvGeometry, coutG: number): number | null {
  const { k, cinG, kh, kw } = gk;
  const [H, W] = g.inHW;
  const [Ho, Wo] = g.outHW;
  const [sh, sw] = g.strides;
  const [pt, pl] = g.pads;
  const dIn = cinG * H * W;
  const bIn = Math.min(dIn - 1, ((kh - 1) * W + (kw - 1)) * cinG + cinG - 1);
  const dOut = coutG * Ho * Wo;
  const bOut = Math.min(dOut - 1, (Math.floor((kh - 1) / sh) * Wo + Math.floor((kw - 1) / sw)) * coutG + coutG - 1);
  const taps = kh * kw;
  const workIn = dIn * (bIn + 1) * (bIn + 1) / 2 + Ho * Wo * (cinG * taps) ** 2 / 2 + coutG * (cinG * taps) ** 2;
  const workOut = dOut * (bOut + 1) * (bOut + 1) / 2 + H * W * (Math.ceil(kh / sh) * Math.ceil(kw / sw) * coutG) ** 2 + taps * taps * coutG * coutG * cinG;
  const useIn = workIn <= workOut;
  const work = useIn ? workIn : workOut;
  const mem = useIn ? dIn * (bIn + 1) : dOut * (bOut + 1);
  if (dIn === 0 || dOut === 0) return 0;
  if (work > EXACT_WORK_LIMIT || mem > EXACT_MEMORY_LIMIT) return null;

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
  const terms = (cinG + coutG) * taps * taps + 8;
  const entryError = roundoffGamma(terms) * maxRow * maxCol * 1.001;
  const { upper } = symmetricLambdaMaxUpperBound(band, entryError);
  return Math.sqrt(Math.max(upper, 0)) * (1 + 1e-15) * (1 + BOUND_SAFETY_MARGIN);
}

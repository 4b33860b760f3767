/**
 * Work accounting for the bound's expensive computations, and a certified
 * largest eigenvalue that stays within a budget.
 *
 * Every expensive path (Gram matrices, Lanczos with its full
 * reorthogonalization, Cholesky checks, circular-convolution spectra) charges
 * a `WorkMeter` in multiply-adds before it runs; past the meter's limit the
 * caller falls back to a cheaper sound bound and says so in the layer table.
 */
import { gershgorinBound, lanczosLambdaMax, roundoffGamma, shiftedBandCholesky, SymmetricBand } from '@lip/core/linalg';

/** Thrown by `WorkMeter.charge` when a computation would pass its limit. */
export class WorkLimitExceeded extends Error {
  constructor(readonly what: string) {
    super(`work limit exceeded: ${what}`);
    this.name = 'WorkLimitExceeded';
  }
}

/** Counts multiply-adds (and doubles allocated) against limits. */
export class WorkMeter {
  used = 0;

  constructor(
    readonly limit: number,
    readonly memoryLimit = Infinity,
  ) {}

  /** True when `work` more multiply-adds (and `memory` doubles at once) fit. */
  fits(work: number, memory = 0): boolean {
    return this.used + work <= this.limit && memory <= this.memoryLimit;
  }

  /** Records `work`; throws WorkLimitExceeded (naming `what`) when it does not fit. */
  charge(work: number, what: string, memory = 0): void {
    if (!this.fits(work, memory)) throw new WorkLimitExceeded(what);
    this.used += work;
  }
}

/** Lanczos steps the certificate runs (lanczosLambdaMax's default). */
const LANCZOS_STEPS = 160;

/** Stored entries of a band of dimension d and bandwidth b (b <= d - 1): each is read twice per matrix-vector product. */
function bandEntries(d: number, b: number): number {
  return d * (b + 1) - (b * (b + 1)) / 2;
}

/** Multiply-adds of Lanczos on a band of dimension d, bandwidth b: matvecs plus the twice-applied full reorthogonalization. */
export function lanczosWork(d: number, b: number): number {
  const steps = Math.min(d, LANCZOS_STEPS);
  return steps * 2 * bandEntries(d, b) + 2 * steps * (steps + 1) * d;
}

/** Multiply-adds of one shifted banded Cholesky factorization: sum over rows of (band below the pivot)^2 / 2. */
export function choleskyWork(d: number, b: number): number {
  const bb = Math.min(b, d - 1);
  return ((d - bb) * bb * bb) / 2 + (bb * bb * bb) / 6 + 2 * d;
}

/** Doubles allocated at once by the certificate: the Lanczos basis and the Cholesky copy of the band. */
export function lambdaMaxMemory(d: number, b: number): number {
  return Math.min(d, LANCZOS_STEPS) * d + d * (b + 1);
}

/** Work of `certifiedLambdaMax` with its first Cholesky attempt. */
export function lambdaMaxWork(d: number, b: number): number {
  return lanczosWork(d, b) + choleskyWork(d, b) + 2 * bandEntries(d, b);
}

const UNIT_ROUNDOFF = 2 ** -53;

/**
 * Guaranteed upper bound on lambda_max of a symmetric band, given that the
 * band's computed entries are within `entryError` (spectral norm) of the exact
 * matrix. The same certificate as @lip/train's `symmetricLambdaMaxUpperBound`
 * (Lanczos estimate mu, Cholesky of mu I - M with Higham's rounding bound,
 * Gershgorin fallback), with the same arithmetic, but every step is charged
 * to `meter`: Lanczos up front (WorkLimitExceeded when it does not fit), and
 * Cholesky retries only while they fit, else the Gershgorin bound.
 */
export function certifiedLambdaMax(m: SymmetricBand, entryError: number, meter: WorkMeter, what: string): number {
  meter.charge(2 * bandEntries(m.d, m.b), `${what} (Gershgorin)`);
  const gersh = gershgorinBound(m) + entryError;
  if (m.d === 0) return 0;
  meter.charge(lanczosWork(m.d, m.b), `${what} (Lanczos)`, lambdaMaxMemory(m.d, m.b));
  const { theta, residual } = lanczosLambdaMax(m);
  const estimate = theta;
  let maxDiag = 0;
  for (let i = 0; i < m.d; i++) maxDiag = Math.max(maxDiag, Math.abs(m.data[i * (m.b + 1)]));
  const scale = Math.max(Math.abs(estimate), maxDiag, 1e-300);
  const gamma = roundoffGamma(m.b + 2);
  let step = Math.max(1.5 * (Number.isFinite(residual) ? residual : scale), 1e-10 * scale);
  const chol = choleskyWork(m.d, m.b);
  for (let attempt = 0; attempt < 14; attempt++, step *= 10) {
    const mu = Math.max(estimate, 0) + step;
    if (mu >= gersh || !meter.fits(chol)) break;
    meter.charge(chol, `${what} (Cholesky)`);
    const sumSq = shiftedBandCholesky(m, mu);
    if (sumSq !== null) {
      const upper = (mu + 2 * gamma * sumSq + entryError) * (1 + 4 * UNIT_ROUNDOFF);
      if (upper < gersh) return upper;
      break;
    }
  }
  return gersh;
}

/** Largest eigenvalue of the symmetric tridiagonal matrix (diagonal `alpha`, off-diagonal `beta`), by Sturm bisection. */
function tridiagonalLargest(alpha: readonly number[], beta: readonly number[]): number {
  const m = alpha.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < m; i++) {
    const r = (i > 0 ? Math.abs(beta[i - 1]) : 0) + (i < m - 1 ? Math.abs(beta[i]) : 0);
    lo = Math.min(lo, alpha[i] - r);
    hi = Math.max(hi, alpha[i] + r);
  }
  // Eigenvalues below x = negative pivots of the LDL^T factorization of T - x I.
  const below = (x: number): number => {
    let count = 0;
    let q = 1;
    for (let i = 0; i < m; i++) {
      q = alpha[i] - x - (i > 0 ? (beta[i - 1] * beta[i - 1]) / (q === 0 ? 1e-300 : q) : 0);
      if (q < 0) count++;
    }
    return count;
  };
  for (let it = 0; it < 100 && hi - lo > 1e-15 * Math.max(Math.abs(hi), Math.abs(lo), 1e-300); it++) {
    const mid = 0.5 * (lo + hi);
    if (below(mid) === m) hi = mid;
    else lo = mid;
  }
  return lo;
}

/**
 * Largest Ritz value of up to `maxSteps` Lanczos steps (three-term
 * recurrence, no reorthogonalization) on the symmetric operator `apply`
 * (y = M x) of dimension d, from a fixed pseudo-random start; every
 * `every` steps, and after the first, `enough(theta)` may stop it early.
 * Not a certificate but a lower estimate: the Ritz values of the computed
 * tridiagonal stay below lambda_max(M) up to O(steps u ||M||) (Paige 1980).
 * It decides whether a certificate is worth its work. `support` (1 where the
 * start may be nonzero; all of it when absent or all 0) picks a start that
 * is likely near the top of the spectrum.
 */
export function ritzLowerEstimate(
  d: number,
  apply: (x: Float64Array, y: Float64Array) => void,
  maxSteps: number,
  enough: (theta: number) => boolean,
  every = 8,
  support?: Uint8Array,
): number {
  if (d === 0) return 0;
  let q = new Float64Array(d);
  let s = 0x9e3779b9;
  const masked = support !== undefined && support.includes(1);
  for (let i = 0; i < d; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    q[i] = masked && support[i] === 0 ? 0 : s / 4294967296 - 0.5;
  }
  let norm = Math.sqrt(dot(q, q, d));
  for (let i = 0; i < d; i++) q[i] /= norm;
  let prev = new Float64Array(d);
  const w = new Float64Array(d);
  const alpha: number[] = [];
  const beta: number[] = [];
  let theta = 0;
  for (let j = 0; j < Math.min(d, maxSteps); j++) {
    apply(q, w);
    const a = dot(w, q, d);
    alpha.push(a);
    const b = j > 0 ? beta[j - 1] : 0;
    norm = Math.sqrt(recurrenceStep(w, a, q, b, prev, d));
    const last = j === Math.min(d, maxSteps) - 1 || !(norm > 1e-13 * Math.max(Math.abs(a), 1e-300));
    if (last || j === 0 || (j + 1) % every === 0) {
      theta = tridiagonalLargest(alpha, beta);
      if (last || enough(theta)) return theta;
    }
    beta.push(norm);
    [prev, q] = [q, prev];
    for (let i = 0; i < d; i++) q[i] = w[i] / norm;
  }
  return theta;
}

// Small functions of their own, so that V8 optimizes them after a few calls (see conv.ts's convGramOperator).

/** sum_{i < d} x[i] y[i], in order of i. */
function dot(x: Float64Array, y: Float64Array, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += x[i] * y[i];
  return s;
}

/** w -= a q + b prev; returns ||w||^2 (summed in order). */
function recurrenceStep(w: Float64Array, a: number, q: Float64Array, b: number, prev: Float64Array, d: number): number {
  let norm = 0;
  for (let i = 0; i < d; i++) {
    w[i] -= a * q[i] + b * prev[i];
    norm += w[i] * w[i];
  }
  return norm;
}

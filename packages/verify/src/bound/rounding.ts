/**
 * Upward rounding for the bound's own arithmetic (products of layer bounds,
 * window sums, square roots): a computed bound must never fall below the
 * exact one, not even by an ulp, and must not underflow to 0.
 */

/** 2^-52: one ulp of 1. */
const EPS = 2 ** -52;
/** Below this, products are subnormal and lose relative precision. */
const MIN_NORMAL = 2 ** -1022;

/** A number >= x, rounded up by at least one ulp unless x is 0 (x >= 0). */
export function nextUp(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  // x (1 + 2^-52) >= x + ulp(x) for normal x; subnormals gain the smallest step.
  return x < MIN_NORMAL ? x + Number.MIN_VALUE : x + x * EPS;
}

/** An upper bound on a * b (a, b >= 0): exact when one factor is 1, never 0 unless a factor is. */
export function mulUp(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  if (a === 1) return b;
  if (b === 1) return a;
  const p = a * b;
  if (p === 0) return Number.MIN_VALUE;
  return nextUp(p);
}

/** An upper bound on sqrt(x) (x >= 0): exact for perfect squares of integers. */
export function sqrtUp(x: number): number {
  const s = Math.sqrt(x);
  if (Number.isInteger(s) && s * s === x) return s;
  return nextUp(s);
}

/**
 * An upper bound on a rational quantity computed in `ops` rounded float
 * operations on positive terms (relative error <= ops * 2^-53 each). A result
 * that is an integer is taken as exact: sums of 1/d with small integer d
 * differ from any integer by far more than their rounding error.
 */
export function roundedSumUp(x: number, ops: number): number {
  if (Number.isInteger(x)) return x;
  return x * (1 + (ops + 2) * EPS);
}

/** x * 2^e without intermediate overflow or underflow of the factor (e may be large). */
export function timesPow2(x: number, e: number): number {
  let r = x;
  let left = e;
  while (left !== 0) {
    const step = Math.max(-1000, Math.min(1000, left));
    r *= 2 ** step;
    left -= step;
  }
  return r;
}

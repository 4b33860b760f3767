/**
 * Axis ticks on round values: steps of 1, 2 or 5 times a power of ten
 * (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990; the
 * thresholds are d3-array's `tickIncrement`).
 */

/** Tick count an axis aims for; the actual count is within about a factor of 2. */
export const DEFAULT_TICK_COUNT = 5;

/**
 * A nice step for about `count` intervals over `span`: step = m * 10^k with m
 * in {1, 2, 5}, returned as `{ m, k }` so that tick values can be computed as
 * i * m / 10^-k, exact to the last printed digit (0.6, not 0.6000000000000001).
 */
function niceIncrement(span: number, count: number): { m: number; k: number } {
  const raw = span / count;
  const k = Math.floor(Math.log10(raw));
  const r = raw / 10 ** k;
  // sqrt(50), sqrt(10), sqrt(2): the geometric midpoints between 10, 5, 2 and 1.
  const m = r >= Math.sqrt(50) ? 10 : r >= Math.sqrt(10) ? 5 : r >= Math.sqrt(2) ? 2 : 1;
  return m === 10 ? { m: 1, k: k + 1 } : { m, k };
}

/** i * m * 10^k, dividing by 10^-k when k < 0 so that the result is the double nearest the decimal. */
function multiple(i: number, m: number, k: number): number {
  return k < 0 ? (i * m) / 10 ** -k : i * m * 10 ** k;
}

function checkRange(lo: number, hi: number, count: number): void {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new RangeError(`'lo' and 'hi' must be finite, got [${lo}, ${hi}]`);
  if (lo > hi) throw new RangeError(`'lo' must be at most 'hi', got [${lo}, ${hi}]`);
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`'count' must be a positive integer, got ${count}`);
}

/** The nice step for about `count` intervals over [lo, hi] (lo < hi). */
export function niceStep(lo: number, hi: number, count = DEFAULT_TICK_COUNT): number {
  checkRange(lo, hi, count);
  if (lo === hi) throw new RangeError(`'lo' and 'hi' must differ, got [${lo}, ${hi}]`);
  const { m, k } = niceIncrement(hi - lo, count);
  return multiple(1, m, k);
}

/**
 * Ticks on round values inside [lo, hi]: every multiple of the nice step for
 * about `count` intervals. [0, 0.87] gives 0, 0.2, 0.4, 0.6, 0.8. An empty
 * range (lo = hi) gives that one value.
 */
export function niceTicks(lo: number, hi: number, count = DEFAULT_TICK_COUNT): number[] {
  checkRange(lo, hi, count);
  if (lo === hi) return [lo];
  const { m, k } = niceIncrement(hi - lo, count);
  const step = multiple(1, m, k);
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(multiple(i, m, k) + 0); // + 0 turns -0 into 0
  return ticks;
}

/**
 * [lo, hi] widened to multiples of its nice step, so that the axis starts and
 * ends on a tick: [0, 0.87] becomes [0, 1]. An empty range becomes [lo, lo + 1].
 */
export function niceDomain(lo: number, hi: number, count = DEFAULT_TICK_COUNT): [number, number] {
  checkRange(lo, hi, count);
  if (lo === hi) return [lo, lo + 1];
  let [a, b] = [lo, hi];
  // Widening can change the step (0..0.87 -> step 0.2 -> 0..1 -> still 0.2); two rounds settle it, as in d3's scale.nice.
  for (let round = 0; round < 2; round++) {
    const { m, k } = niceIncrement(b - a, count);
    const step = multiple(1, m, k);
    a = multiple(Math.floor(a / step + 1e-9), m, k) + 0;
    b = multiple(Math.ceil(b / step - 1e-9), m, k) + 0;
  }
  return [a, b];
}

/** Decimals that print every tick of `ticks` exactly (0.2 -> 1, 0.05 -> 2, 5 -> 0). */
export function tickDecimals(ticks: readonly number[]): number {
  let decimals = 0;
  for (const t of ticks) {
    while (decimals < 12 && Math.abs(Number(t.toFixed(decimals)) - t) > 1e-9 * Math.max(1, Math.abs(t))) decimals++;
  }
  return decimals;
}

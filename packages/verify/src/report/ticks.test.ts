import { niceDomain, niceStep, niceTicks, tickDecimals } from './ticks';

/** m in {1, 2, 5} with step = m * 10^k. */
function mantissa(step: number): number {
  return Number((step / 10 ** Math.floor(Math.log10(step) + 1e-12)).toPrecision(6));
}

describe('nice ticks', () => {
  it.each([
    [0, 0.87, [0, 0.2, 0.4, 0.6, 0.8]],
    [0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]],
    [0, 2.3, [0, 0.5, 1, 1.5, 2]],
    [0, 10, [0, 2, 4, 6, 8, 10]],
    [-1, 1, [-1, -0.5, 0, 0.5, 1]],
    [0.013, 0.047, [0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045]],
    [120, 980, [200, 400, 600, 800]],
    [0.3, 0.3, [0.3]],
  ])('[%p, %p] -> %p', (lo, hi, ticks) => {
    expect(niceTicks(lo, hi)).toEqual(ticks);
  });

  it('gives exact decimals (0.6, not 0.6000000000000001), steps of 1, 2 or 5 x 10^k, and about 5 ticks, on random ranges', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 200; trial++) {
      const lo = (random() - 0.5) * 10 ** Math.floor(random() * 8 - 4);
      const hi = lo + random() * 10 ** Math.floor(random() * 8 - 4) + 1e-9;
      const ticks = niceTicks(lo, hi);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.length).toBeLessThanOrEqual(11);
      const step = niceStep(lo, hi);
      expect([1, 2, 5]).toContain(mantissa(step));
      const decimals = tickDecimals(ticks);
      for (const t of ticks) {
        expect(t).toBeGreaterThanOrEqual(lo - 1e-9 * step);
        expect(t).toBeLessThanOrEqual(hi + 1e-9 * step);
        // Printed with the step's decimals, the tick reads back exactly: no 0.30000000000000004.
        expect(Number(t.toFixed(decimals))).toBe(t);
        expect(decimals).toBeLessThanOrEqual(Math.max(0, -Math.floor(Math.log10(step) + 1e-12)));
        expect(Math.abs(t / step - Math.round(t / step))).toBeLessThan(1e-6);
      }
    }
  });

  it('widens a range to the ticks around it', () => {
    expect(niceDomain(0, 0.87)).toEqual([0, 1]);
    expect(niceDomain(0, 2.06)).toEqual([0, 2.5]);
    expect(niceDomain(0.013, 0.047)).toEqual([0.01, 0.05]);
    expect(niceDomain(-0.3, 0.9)).toEqual([-0.4, 1]);
    expect(niceDomain(0, 0)).toEqual([0, 1]);
    expect(niceDomain(0, 1)).toEqual([0, 1]);
  });

  it('prints ticks with the decimals they need', () => {
    expect(tickDecimals([0, 0.2, 0.4])).toBe(1);
    expect(tickDecimals([0.015, 0.02])).toBe(3);
    expect(tickDecimals([0, 5, 10])).toBe(0);
  });

  it('refuses non-finite or reversed ranges, naming the parameter', () => {
    expect(() => niceTicks(0, NaN)).toThrow(RangeError);
    expect(() => niceTicks(0, Infinity)).toThrow(/'lo' and 'hi' must be finite, got \[0, Infinity\]/);
    expect(() => niceTicks(1, 0)).toThrow(/'lo' must be at most 'hi', got \[1, 0\]/);
    expect(() => niceTicks(0, 1, 0)).toThrow(/'count' must be a positive integer, got 0/);
    expect(() => niceStep(1, 1)).toThrow(/'lo' and 'hi' must differ/);
  });
});

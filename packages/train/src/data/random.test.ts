import { InvalidArgumentError } from '../errors';
import { mulberry32, randomPermutation, shuffle } from './random';

describe('mulberry32', () => {
  it('matches the reference sequence', () => {
    // Reference: Tommy Ettinger's mulberry32 in JavaScript, seeded with 0 and with 42.
    const ref = (seed: number) => () => {
      let t = (seed += 0x6d2b79f5);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    for (const seed of [0, 42, 123456789]) {
      const a = mulberry32(seed);
      const b = ref(seed);
      for (let i = 0; i < 1000; i++) expect(a()).toBe(b());
    }
    expect(mulberry32(0)()).toBe(0.26642920868471265);
  });

  it('is deterministic, in [0, 1), roughly uniform, and resumable from its state', () => {
    const a = mulberry32(7);
    const xs = Array.from({ length: 10000 }, () => a());
    expect(xs).toEqual(
      Array.from(
        { length: 10000 },
        (
          (r) => () =>
            r()
        )(mulberry32(7)),
      ),
    );
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    const resumed = mulberry32(a.state);
    expect([resumed(), resumed()]).toEqual([a(), a()]);
    expect(mulberry32(8)()).not.toBe(mulberry32(7)());
  });

  it('rejects a non-integer seed', () => {
    expect(() => mulberry32(1.5)).toThrow(InvalidArgumentError);
    expect(() => mulberry32(NaN)).toThrow(/'seed' must be an integer/);
  });
});

describe('shuffle', () => {
  it('permutes in place, reproducibly, and differently per seed', () => {
    const a = Array.from({ length: 100 }, (_, i) => i);
    const s1 = shuffle([...a], mulberry32(1));
    const s1again = shuffle([...a], mulberry32(1));
    const s2 = shuffle([...a], mulberry32(2));
    expect(s1).toEqual(s1again);
    expect(s1).not.toEqual(s2);
    expect(s1).not.toEqual(a);
    expect([...s1].sort((x, y) => x - y)).toEqual(a);
    const typed = Uint32Array.from(a);
    expect(shuffle(typed, mulberry32(1))).toBe(typed);
    expect(Array.from(typed)).toEqual(s1);
  });

  it('is unbiased: each position takes each value about equally often', () => {
    const rng = mulberry32(3);
    const counts = [0, 0, 0, 0].map(() => [0, 0, 0, 0]);
    for (let t = 0; t < 8000; t++) shuffle([0, 1, 2, 3], rng).forEach((v, pos) => counts[pos]![v]!++);
    for (const row of counts) for (const c of row) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });

  it('randomPermutation is a permutation of 0..n-1', () => {
    const p = randomPermutation(1000, mulberry32(5));
    expect(p).toBeInstanceOf(Uint32Array);
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(randomPermutation(0, mulberry32(5)).length).toBe(0);
    expect(() => randomPermutation(-1, mulberry32(5))).toThrow(InvalidArgumentError);
  });
});

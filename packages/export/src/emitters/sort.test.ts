import { sortingNetwork } from './sort';

/** Applies the comparator network to a copy of xs. */
function run(n: number, xs: number[]): number[] {
  const v = xs.slice();
  for (const [i, j] of sortingNetwork(n)) {
    if (v[i] > v[j]) [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}

describe('sortingNetwork (Batcher merge-exchange)', () => {
  // 0-1 principle (Knuth 5.3.4): a comparator network sorts every input iff it sorts every 0/1 input.
  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 12])('sorts all 0/1 inputs of size %i', (n) => {
    for (let mask = 0; mask < 2 ** n; mask++) {
      const xs = Array.from({ length: n }, (_, i) => (mask >> i) & 1);
      const sorted = xs.slice().sort((a, b) => a - b);
      expect(run(n, xs)).toEqual(sorted);
    }
  });

  it('uses only in-range pairs with i < j, and O(n log^2 n) comparators', () => {
    for (const n of [3, 10, 32, 64]) {
      const pairs = sortingNetwork(n);
      for (const [i, j] of pairs) {
        expect(i).toBeLessThan(j);
        expect(j).toBeLessThan(n);
      }
      const lg = Math.ceil(Math.log2(n));
      expect(pairs.length).toBeLessThanOrEqual(n * lg * lg);
    }
    expect(sortingNetwork(4)).toHaveLength(5);
    expect(sortingNetwork(8)).toHaveLength(19);
  });

  it('sorts random real vectors of size 64', () => {
    for (let t = 0; t < 20; t++) {
      const xs = Array.from({ length: 64 }, () => Math.random() - 0.5);
      expect(run(64, xs)).toEqual(xs.slice().sort((a, b) => a - b));
    }
  });
});

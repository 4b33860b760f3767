import { headRowDistances } from './head';

describe('headRowDistances', () => {
  it('is ||w_i - w_j|| rounded up by (1 + 1e-12), symmetric, with a zero diagonal', () => {
    // Rows (3, 4), (0, 0), (3, 0): distances 5, 4 and 3.
    const weights = Float64Array.from([3, 4, 0, 0, 3, 0]);
    const d = headRowDistances({ classes: 3, dim: 2, weights });
    const up = 1 + 1e-12;
    expect(Array.from(d)).toEqual([0, 5 * up, 4 * up, 5 * up, 0, 3 * up, 4 * up, 3 * up, 0]);
    expect(d[1]).toBeGreaterThan(5);
  });

  it('gives the same numbers from float32 weights as from their float64 copy (export writes one, verify reads the other)', () => {
    const weights32 = Float32Array.from({ length: 4 * 5 }, (_, i) => Math.sin(i + 1) * 0.7);
    const a = headRowDistances({ classes: 4, dim: 5, weights: weights32 });
    const b = headRowDistances({ classes: 4, dim: 5, weights: Float64Array.from(weights32) });
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

import { uniformStream } from '@lip/test-support';
import { convMatrix, lambdaMax, samePads, sigmaMax } from '@lip/test-support/linalg';
import { InvalidArgumentError } from '../errors';
import {
  BOUND_SAFETY_MARGIN,
  circularConvNormUpperBound,
  convSpectralNormUpperBound,
  denseToBand,
  emptyBand,
  lambdaMaxBelow,
  lanczosLambdaMax,
  matrixSpectralNormUpperBound,
  shiftedBandCholesky,
  symmetricLambdaMaxUpperBound,
} from './conv_norm_bound';

/**
 * A random PSD band M = B^T B (B upper banded with bandwidth 2, so M has
 * bandwidth 4 <= b) of dimension d, stored with bandwidth b; M dense, and its
 * exact lambda_max.
 */
function psdBand(d: number, b: number, seed: number): { band: ReturnType<typeof emptyBand>; dense: Float64Array; exact: number } {
  const r = uniformStream(seed, -0.5, 0.5);
  const B = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = i; j < Math.min(d, i + 3); j++) B[i * d + j] = r();
  const dense = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += B[k * d + i] * B[k * d + j];
      dense[i * d + j] = s;
    }
  const band = emptyBand(d, b);
  for (let i = 0; i < d; i++) for (let j = i; j <= Math.min(d - 1, i + b); j++) band.data[i * (b + 1) + (j - i)] = dense[i * d + j];
  return { band, dense, exact: lambdaMax(dense, d) };
}

describe('convSpectralNormUpperBound', () => {
  const shapes: [number, number, number, number, number, number][] = [
    // kh, kw, cin, cout, h, w
    [3, 3, 1, 1, 5, 5],
    [3, 3, 2, 3, 4, 6],
    [2, 2, 3, 2, 5, 4],
    [3, 1, 2, 2, 6, 3],
    [1, 1, 3, 4, 3, 3],
    [4, 3, 2, 1, 5, 5],
  ];
  it.each(shapes)('equals the circular conv norm on the (n+k-1) grid: k %ix%i, %i->%i, input %ix%i', (kh, kw, cin, cout, h, w) => {
    const r = uniformStream(kh * 100 + cin * 10 + cout + h, -0.5, 0.5);
    const k = Float64Array.from({ length: kh * kw * cin * cout }, () => r());
    const n1 = h + kh - 1,
      n2 = w + kw - 1;
    const circ = convMatrix(k, { layout: 'hwio', kh, kw, cin, cout, h: n1, w: n2, circular: true });
    const exact = sigmaMax(circ.a, circ.rows, circ.cols);
    const bound = convSpectralNormUpperBound(k, [kh, kw, cin, cout], [h, w], [1, 1], 'same');
    expect(bound).toBeGreaterThanOrEqual(exact);
    expect(bound / exact - 1).toBeLessThan(BOUND_SAFETY_MARGIN + 1e-8);
  });

  it('is never below the zero-padded conv norm (same/valid, strides 1 and 2)', () => {
    const r = uniformStream(77, -0.5, 0.5);
    for (let t = 0; t < 24; t++) {
      const kh = 1 + (t % 3),
        kw = 1 + ((t >> 1) % 3),
        cin = 1 + (t % 2),
        cout = 1 + ((t >> 2) % 3);
      const h = kh + 2 + (t % 3),
        w = kw + 1 + ((t >> 1) % 4);
      const s = 1 + ((t >> 3) % 2);
      const same = t % 2 === 0;
      const k = Float64Array.from({ length: kh * kw * cin * cout }, () => r());
      const pads = same ? samePads(h, w, [kh, kw], [s, s]) : ([0, 0, 0, 0] as [number, number, number, number]);
      const zp = convMatrix(k, { layout: 'hwio', kh, kw, cin, cout, h, w, pads, strides: [s, s] });
      expect(zp.out).toEqual(same ? [Math.ceil(h / s), Math.ceil(w / s)] : [Math.floor((h - kh) / s) + 1, Math.floor((w - kw) / s) + 1]);
      const brute = sigmaMax(zp.a, zp.rows, zp.cols);
      const bound = convSpectralNormUpperBound(Float32Array.from(k), [kh, kw, cin, cout], [h, w], [s, s], same ? 'same' : 'valid');
      expect(bound).toBeGreaterThanOrEqual(brute * (1 - 1e-7)); // the float32 copy of k differs by ~1e-8
    }
  });

  it('is 0 for a zero kernel and scales linearly', () => {
    expect(convSpectralNormUpperBound(new Float32Array(18), [3, 3, 2, 1], [4, 4], [1, 1], 'same')).toBe(0);
    const k = Float64Array.from({ length: 18 }, uniformStream(5, -0.5, 0.5));
    const a = convSpectralNormUpperBound(k, [3, 3, 2, 1], [4, 4], [1, 1], 'same');
    const b = convSpectralNormUpperBound(
      k.map((v) => v * 4),
      [3, 3, 2, 1],
      [4, 4],
      [1, 1],
      'same',
    );
    expect(b / a).toBeCloseTo(4, 9);
  });

  it('refuses bad arguments, naming them', () => {
    const k = new Float32Array(9);
    expect(() => convSpectralNormUpperBound(k, [3, 3, 1, 2], [4, 4], [1, 1], 'same')).toThrow(InvalidArgumentError);
    expect(() => convSpectralNormUpperBound(k, [3, 3, 1, 2], [4, 4], [1, 1], 'same')).toThrow(/'kernel' holds 9 values/);
    expect(() => convSpectralNormUpperBound(k, [3, 3, 1, 1], [0, 4], [1, 1], 'same')).toThrow(/'inputHW'/);
    expect(() => convSpectralNormUpperBound(k, [3, 3, 1, 1], [4, 4], [0, 1], 'same')).toThrow(/'strides'/);
    expect(() => convSpectralNormUpperBound(k, [3, 3, 1, 1], [4, 4], [1, 1], 'full' as 'same')).toThrow(/'padding'/);
    expect(() => convSpectralNormUpperBound(Float32Array.of(NaN, 0, 0, 0), [2, 2, 1, 1], [4, 4], [1, 1], 'same')).toThrow(/non-finite/);
  });
});

describe('certified eigenvalue bounds', () => {
  it('matrixSpectralNormUpperBound is the singular value within the safety margin, never below', () => {
    for (const [m, n] of [
      [6, 4],
      [4, 6],
      [30, 12],
      [1, 1],
    ]) {
      const w = Float64Array.from({ length: m * n }, uniformStream(m * 7 + n, -0.5, 0.5));
      const exact = sigmaMax(w, m, n);
      const bound = matrixSpectralNormUpperBound(w, m, n);
      expect(bound).toBeGreaterThanOrEqual(exact);
      expect(bound / exact - 1).toBeLessThan(BOUND_SAFETY_MARGIN + 1e-8);
    }
  });

  it('a banded PSD matrix: Cholesky certifies just above lambda_max and fails just below', () => {
    const d = 60;
    const { band, dense, exact } = psdBand(d, 5, 3);
    const { upper, method } = symmetricLambdaMaxUpperBound(band);
    expect(method).toBe('cholesky');
    expect(upper).toBeGreaterThanOrEqual(exact);
    expect(upper / exact - 1).toBeLessThan(1e-7);
    expect(shiftedBandCholesky(band, exact * (1 - 1e-6))).toBeNull();
    expect(shiftedBandCholesky(band, exact * (1 + 1e-6))).not.toBeNull();
    expect(lanczosLambdaMax(denseToBand(dense, d)).theta).toBeLessThanOrEqual(exact * (1 + 1e-12));
  });
});

describe('lambdaMaxBelow (one Cholesky factorization, no Lanczos)', () => {
  it.each([1, 2, 3, 4, 5])('proves lambda_max <= target with room, never below lambda_max, and says nothing when it does not hold (seed %i)', (seed) => {
    const { band, exact } = psdBand(40, 4, seed);
    for (const factor of [1.5, 1.01, 1 + 1e-6]) {
      const target = exact * factor;
      const certified = lambdaMaxBelow(band, 0, target);
      expect(certified).not.toBeNull();
      expect(certified!).toBeGreaterThanOrEqual(exact);
      expect(certified!).toBeLessThanOrEqual(target);
    }
    // Below lambda_max no certificate exists: a sound bound must refuse.
    for (const factor of [1 - 1e-6, 0.9, 0.5]) expect(lambdaMaxBelow(band, 0, exact * factor)).toBeNull();
    // The entry error is added: a target that only the error-free matrix meets is refused.
    expect(lambdaMaxBelow(band, exact * 1e-3, exact * (1 + 1e-6))).toBeNull();
    expect(lambdaMaxBelow(band, 0, 0)).toBeNull();
    expect(lambdaMaxBelow(band, 0, NaN)).toBeNull();
  });

  it('the circular bound is the same with it as with a full certificate for every frequency, and certifies far fewer by Lanczos', () => {
    // An orthogonal-like kernel (every frequency near 1, the hard case) and a random one, 3x3, 4 -> 4 channels, 8x8 grid.
    const r = uniformStream(11, -0.5, 0.5);
    const random = Float64Array.from({ length: 9 * 4 * 4 }, () => r());
    const delta = new Float64Array(9 * 4 * 4);
    for (let c = 0; c < 4; c++) delta[(4 * 4 + c) * 4 + c] = 1; // centre tap: identity
    for (let i = 0; i < delta.length; i++) delta[i] += 1e-7 * r();
    for (const k of [random, delta]) {
      let full = 0;
      const everyFrequency = circularConvNormUpperBound(k, 3, 3, 4, 4, 8, 8, (band, entryError) => {
        full++;
        return symmetricLambdaMaxUpperBound(band, entryError).upper;
      });
      let lanczos = 0;
      let quick = 0;
      const withEnough = circularConvNormUpperBound(k, 3, 3, 4, 4, 8, 8, (band, entryError, _size, enough) => {
        const below = enough > 0 ? lambdaMaxBelow(band, entryError, enough) : null;
        if (below !== null) {
          quick++;
          return below;
        }
        lanczos++;
        return symmetricLambdaMaxUpperBound(band, entryError).upper;
      });
      // Never above the bound that certifies every frequency tightly, and at least the true norm.
      expect(withEnough).toBeLessThanOrEqual(everyFrequency);
      const circ = convMatrix(
        Float64Array.from({ length: k.length }, (_, i) => k[i]),
        { layout: 'hwio', kh: 3, kw: 3, cin: 4, cout: 4, h: 8, w: 8, circular: true },
      );
      expect(withEnough).toBeGreaterThanOrEqual(sigmaMax(circ.a, circ.rows, circ.cols));
      expect(withEnough / everyFrequency).toBeGreaterThan(1 - 1e-9);
      expect(lanczos + quick).toBeLessThanOrEqual(full);
      expect(lanczos).toBeLessThan(full / 3);
    }
  });
});

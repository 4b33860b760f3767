/**
 * The bound's certified norms within their work limits (./dense.ts,
 * ./conv.ts): the same bits as @lip/train's reference bounds while the work
 * fits, sound cheaper bounds past the limits, and no underflow to 0.
 */
import { BOUND_SAFETY_MARGIN } from '@lip/core';
import { convSpectralNormUpperBound, matrixSpectralNormUpperBound } from '@lip/train';
import { uniformStream } from '@lip/test-support';
import { ConvMatrixSpec, convOutputSize, convSigmaMax, sigmaMax } from '@lip/test-support/linalg';
import { convNormUpperBound, ConvBoundGeometry } from './conv';
import { denseNormUpperBound } from './dense';

const randomArray = (n: number, r: () => number): Float64Array => Float64Array.from({ length: n }, r);

interface ConvCase {
  cin: number;
  cout: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  s: [number, number];
  d: [number, number];
  pads: [number, number, number, number];
  group: number;
}

function randomConv(r: () => number): ConvCase {
  const pick = (lo: number, hi: number): number => lo + Math.floor((r() + 0.5) * (hi - lo + 1));
  const group = pick(1, 2);
  const kh = pick(1, 3),
    kw = pick(1, 3);
  return {
    cin: group * pick(1, 2),
    cout: group * pick(1, 2),
    h: pick(4, 7),
    w: pick(4, 7),
    kh,
    kw,
    group,
    s: [pick(1, 2), pick(1, 2)],
    d: [pick(1, 2), pick(1, 2)],
    pads: [pick(0, kh - 1), pick(0, kw - 1), pick(0, kh - 1), pick(0, kw - 1)],
  };
}

function spec(c: ConvCase): ConvMatrixSpec {
  return { layout: 'oihw', cin: c.cin, cout: c.cout, h: c.h, w: c.w, kh: c.kh, kw: c.kw, strides: c.s, pads: c.pads, dilations: c.d, group: c.group };
}

function geometry(c: ConvCase): ConvBoundGeometry {
  const [ho, wo] = convOutputSize(spec(c));
  return {
    cout: c.cout,
    cinPerGroup: c.cin / c.group,
    group: c.group,
    kernel: [c.kh, c.kw],
    strides: c.s,
    dilations: c.d,
    pads: c.pads,
    inHW: [c.h, c.w],
    outHW: [ho, wo],
  };
}

describe('dense norms', () => {
  it('are the bits of matrixSpectralNormUpperBound while the exact bound fits', () => {
    const r = uniformStream(3, -0.5, 0.5);
    for (const [m, n] of [
      [7, 5],
      [5, 7],
      [40, 12],
      [12, 40],
      [1, 9],
      [64, 64],
    ]) {
      const w = randomArray(m * n, r);
      const ours = denseNormUpperBound(w, m, n);
      expect(ours.method).toBe('exact');
      expect(ours.bound).toBe(matrixSpectralNormUpperBound(w, m, n));
    }
  });

  it('past the work limit: a block bound (or sqrt(||W||_1 ||W||_inf)) that is never below the norm', () => {
    const r = uniformStream(5, -0.5, 0.5);
    for (const [m, n, limit] of [
      [48, 40, 2e5],
      [30, 70, 5e4],
      [50, 50, 1],
    ]) {
      const w = randomArray(m * n, r);
      const ours = denseNormUpperBound(w, m, n, limit);
      expect(ours.method).not.toBe('exact');
      const norm = sigmaMax(w, m, n);
      let fro = 0;
      for (const v of w) fro += v * v;
      expect(ours.bound).toBeGreaterThanOrEqual(norm);
      // Blocks of one line give the Frobenius norm, each line's norm certified with BOUND_SAFETY_MARGIN.
      expect(ours.bound).toBeLessThanOrEqual(Math.sqrt(fro) * (1 + BOUND_SAFETY_MARGIN) * (1 + 1e-9));
    }
    // An orthogonal-like matrix (identity) in 4 blocks: exactly sqrt(4) * 1.
    const eye = new Float64Array(64 * 64);
    for (let i = 0; i < 64; i++) eye[i * 64 + i] = 1;
    const blocks = denseNormUpperBound(eye, 64, 64, 4e5);
    expect(blocks.method === 'block' || blocks.method === 'one-inf').toBe(true);
    expect(blocks.bound).toBeGreaterThanOrEqual(1);
  });

  it('scales weights far from 1 instead of underflowing (or overflowing) the Gram matrix', () => {
    const r = uniformStream(8, -0.5, 0.5);
    const w = randomArray(6 * 4, r);
    const base = denseNormUpperBound(w, 6, 4).bound;
    for (const e of [-1000, -700, 600, 900]) {
      const scaled = denseNormUpperBound(
        w.map((v) => v * 2 ** e),
        6,
        4,
      ).bound;
      expect(scaled).toBeGreaterThan(0);
      expect(Number.isFinite(scaled)).toBe(true);
      expect(scaled / 2 ** e / base - 1).toBeLessThan(1e-12);
      expect(scaled / 2 ** e / base - 1).toBeGreaterThan(-1e-12);
    }
    // Subnormal weights: still a positive bound above the norm.
    const tiny = Float64Array.of(3e-320, 0, 0, 4e-320);
    expect(denseNormUpperBound(tiny, 2, 2).bound).toBeGreaterThanOrEqual(4e-320);
  });
});

describe('conv norms', () => {
  it('the circular bound is the bits of convSpectralNormUpperBound', () => {
    const r = uniformStream(11, -0.5, 0.5);
    for (let t = 0; t < 12; t++) {
      const c = { ...randomConv(r), group: 1, d: [1, 1] as [number, number] };
      const w = randomArray(c.cout * c.cin * c.kh * c.kw, r);
      const ours = convNormUpperBound(w, geometry(c), false);
      // The reference takes the tfjs layout [kh, kw, cin, cout].
      const tf = new Float64Array(w.length);
      for (let co = 0; co < c.cout; co++) {
        for (let ci = 0; ci < c.cin; ci++) {
          for (let y = 0; y < c.kh; y++)
            for (let x = 0; x < c.kw; x++) tf[((y * c.kw + x) * c.cin + ci) * c.cout + co] = w[((co * c.cin + ci) * c.kh + y) * c.kw + x];
        }
      }
      expect(ours.circular).toBe(convSpectralNormUpperBound(tf, [c.kh, c.kw, c.cin, c.cout], [c.h, c.w], c.s, 'valid'));
    }
  });

  it('past both work limits: the patch or one-inf bound, never below the brute-force norm', () => {
    const r = uniformStream(13, -0.5, 0.5);
    for (let t = 0; t < 25; t++) {
      const c = randomConv(r);
      const w = randomArray(c.cout * (c.cin / c.group) * c.kh * c.kw, r);
      const brute = convSigmaMax(w, spec(c));
      const cheap = convNormUpperBound(w, geometry(c), true, { exact: 0, circular: 0 });
      expect(['patch', 'one-inf']).toContain(cheap.method);
      expect(cheap.note).toMatch(/over its work limit/);
      expect(cheap.bound).toBeGreaterThanOrEqual(brute);
      const full = convNormUpperBound(w, geometry(c));
      expect(full.bound).toBeGreaterThanOrEqual(brute);
      expect(full.bound).toBeLessThanOrEqual(cheap.bound * (1 + 1e-9));
    }
  });

  it('a kernel near 1e-200 gets a positive bound, the scaled bound of the same kernel near 1', () => {
    const r = uniformStream(17, -0.5, 0.5);
    const c: ConvCase = { cin: 2, cout: 3, h: 5, w: 5, kh: 3, kw: 3, s: [1, 1], d: [1, 1], pads: [1, 1, 1, 1], group: 1 };
    const w = randomArray(3 * 2 * 9, r);
    const base = convNormUpperBound(w, geometry(c)).bound;
    const tiny = convNormUpperBound(
      w.map((v) => v * 1e-200),
      geometry(c),
    ).bound;
    expect(tiny).toBeGreaterThan(0);
    expect(tiny / 1e-200 / base - 1).toBeLessThan(1e-9);
    expect(tiny / 1e-200 / base - 1).toBeGreaterThan(-1e-9);
  });
});

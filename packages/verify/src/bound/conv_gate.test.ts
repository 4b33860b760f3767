/**
 * The test that skips the exact conv bound (./conv.ts): on the nearly
 * orthogonal convs lip trains, the circular bound is already within
 * EXACT_GAIN_TOLERANCE of the norm, so the Gram band, its Lanczos and its
 * Cholesky (most of `lip bound`'s time) are skipped; wherever the exact bound
 * is tighter by more than that, it is still computed and used.
 */
import * as path from 'path';
import { uniformStream } from '@lip/test-support';
import { ROOT } from '@lip/test-support/files';
import { convSigmaMax, ConvMatrixSpec, convOutputSize } from '@lip/test-support/linalg';
import { readOnnxModel } from '../onnx/read';
import { BOUND_SAFETY_MARGIN } from '@lip/core/linalg';
import {
  ConvBoundGeometry,
  EXACT_GAIN_TOLERANCE,
  EXACT_WORK_LIMIT,
  GroupKernel,
  convGramOperator,
  convNormUpperBound,
  interiorColumnNormSquared,
  interiorSupport,
} from './conv';
import { inferShapes } from './propagate';
import { ritzLowerEstimate } from './work';

/** The trained model's convs: weights and geometry on their real input sizes. */
function trainedConvs(): { name: string; w: Float32Array; g: ConvBoundGeometry }[] {
  const m = readOnnxModel(path.join(ROOT, 'models/fashion-mnist-ortho.onnx'));
  const shapes = inferShapes(m, [1, 1, 28, 28]);
  return m.nodes
    .filter((n) => n.opType === 'Conv')
    .map((n) => {
      const t = m.initializers.get(n.inputs[1])!;
      const [cout, cin, kh, kw] = t.dims;
      const [, , h, w] = shapes.get(n.inputs[0])!;
      const [, , ho, wo] = shapes.get(n.outputs[0])!;
      // lip's exporter writes 3x3, stride 1, pads 1 ('same').
      return {
        name: n.name,
        w: t.data as Float32Array,
        g: { cout, cinPerGroup: cin, group: 1, kernel: [kh, kw], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1], inHW: [h, w], outHW: [ho, wo] },
      };
    });
}

describe('the exact conv bound is skipped only when it cannot gain more than EXACT_GAIN_TOLERANCE', () => {
  it('lip-trained orthogonal convs: circular bound, no exact computation, within the tolerance of the exact bound', () => {
    const convs = trainedConvs();
    expect(convs).toHaveLength(3);
    for (const { name, w, g } of convs.slice(0, 2)) {
      const fast = convNormUpperBound(w, g);
      expect({ name, method: fast.method, exact: fast.exact }).toEqual({ name, method: 'circular', exact: null });
      // The exact bound alone (no circular bound, hence no skipping) is never smaller by more than the tolerance.
      const exactOnly = convNormUpperBound(w, g, true, { exact: EXACT_WORK_LIMIT, circular: 0 });
      expect(exactOnly.method).toBe('exact');
      expect(fast.bound).toBeLessThanOrEqual(exactOnly.bound * (1 + EXACT_GAIN_TOLERANCE));
    }
  });

  it('lip-trained orthogonal convs pass the gate after one Lanczos step from the interior start (12 or more from a full one)', () => {
    for (const { name, w, g } of trainedConvs()) {
      const [cout, cin, kh, kw] = [g.cout, g.cinPerGroup, ...g.kernel];
      const gk: GroupKernel = { k: Float64Array.from(w), coutG: cout, cinG: cin, kh, kw };
      const circular = convNormUpperBound(w, g, false).bound;
      const lowEnough = (theta: number): boolean => circular <= Math.sqrt(Math.max(theta, 0)) * (1 + BOUND_SAFETY_MARGIN) * (1 + EXACT_GAIN_TOLERANCE);
      const d = cin * g.inHW[0] * g.inHW[1];
      const support = interiorSupport(cin, g.inHW, g.outHW, [1, 1], [1, 1], [kh, kw]);
      // 'same' 3x3 on 7x7: rows and columns 1..5 are interior.
      expect(support.reduce((a, b) => a + b, 0)).toBe(cin * 25);
      const op = convGramOperator(gk, g);
      let calls = 0;
      const counting = (x: Float64Array, y: Float64Array): void => {
        calls++;
        op(x, y);
      };
      const theta = ritzLowerEstimate(d, counting, 32, lowEnough, 4, support);
      expect({ name, calls, passed: lowEnough(theta) }).toEqual({ name, calls: 1, passed: true });
      calls = 0;
      ritzLowerEstimate(d, counting, 32, lowEnough, 4);
      expect(calls).toBeGreaterThanOrEqual(8);
    }
  });

  it("lip-trained orthogonal convs: a column of the conv's matrix alone shows the exact bound cannot gain (no Lanczos step)", () => {
    for (const { name, w, g } of trainedConvs()) {
      const [cout, cin, kh, kw] = [g.cout, g.cinPerGroup, ...g.kernel];
      const gk: GroupKernel = { k: Float64Array.from(w), coutG: cout, cinG: cin, kh, kw };
      const circular = convNormUpperBound(w, g, false).bound;
      const column = interiorColumnNormSquared(gk, g);
      expect({ name, close: Math.abs(column - 1) < 1e-5 }).toEqual({ name, close: true });
      expect(circular).toBeLessThanOrEqual(Math.sqrt(column) * (1 + BOUND_SAFETY_MARGIN) * (1 + EXACT_GAIN_TOLERANCE));
    }
  });

  it('the column estimate is below the norm (random convs, stride 1), and 0 where no cell is read by every tap', () => {
    const r = uniformStream(29, -1, 1);
    for (let t = 0; t < 20; t++) {
      const [kh, kw, cin, cout] = [1 + (t % 3), 1 + ((t >> 1) % 3), 1 + (t % 2), 1 + ((t >> 2) % 3)];
      const [h, w] = [kh + 1 + (t % 3), kw + 2 + ((t >> 1) % 2)];
      const pads: [number, number, number, number] = t % 2 === 0 ? [kh >> 1, kw >> 1, (kh - 1) >> 1, (kw - 1) >> 1] : [0, 0, 0, 0];
      const k = Float64Array.from({ length: cout * cin * kh * kw }, () => r());
      const spec: ConvMatrixSpec = { layout: 'oihw', kh, kw, cin, cout, h, w, pads };
      const [ho, wo] = convOutputSize(spec);
      const g: ConvBoundGeometry = {
        cout,
        cinPerGroup: cin,
        group: 1,
        kernel: [kh, kw],
        strides: [1, 1],
        dilations: [1, 1],
        pads,
        inHW: [h, w],
        outHW: [ho, wo],
      };
      const column = interiorColumnNormSquared({ k, coutG: cout, cinG: cin, kh, kw }, g);
      expect(column).toBeGreaterThan(0);
      expect(Math.sqrt(column)).toBeLessThanOrEqual(convSigmaMax(k, spec) * (1 + 1e-12));
      // Stride 2, or an input smaller than the kernel: no column holds every tap.
      expect(interiorColumnNormSquared({ k, coutG: cout, cinG: cin, kh, kw }, { ...g, strides: [2, 1] })).toBe(0);
      if (kh > 1)
        expect(interiorColumnNormSquared({ k, coutG: cout, cinG: cin, kh, kw }, { ...g, pads: [0, 0, 0, 0], inHW: [kh - 1, w], outHW: [1, wo] })).toBe(0);
    }
  });

  it('random convs: the exact bound is computed and used wherever it is tighter by more than the tolerance', () => {
    const r = uniformStream(29, -0.5, 0.5);
    let exactWins = 0;
    for (let t = 0; t < 20; t++) {
      const pick = (lo: number, hi: number): number => lo + Math.floor((r() + 0.5) * (hi - lo + 1));
      const kh = pick(1, 3),
        kw = pick(1, 3),
        cin = pick(1, 3),
        cout = pick(1, 3),
        h = pick(3, 7),
        w = pick(3, 7);
      const strides: [number, number] = [pick(1, 2), pick(1, 2)];
      const pads: [number, number, number, number] = [pick(0, kh - 1), pick(0, kw - 1), pick(0, kh - 1), pick(0, kw - 1)];
      const spec: ConvMatrixSpec = { layout: 'oihw', cin, cout, h, w, kh, kw, strides, pads };
      const g: ConvBoundGeometry = {
        cout,
        cinPerGroup: cin,
        group: 1,
        kernel: [kh, kw],
        strides,
        dilations: [1, 1],
        pads,
        inHW: [h, w],
        outHW: convOutputSize(spec),
      };
      const k = Float64Array.from({ length: cout * cin * kh * kw }, r);
      const fast = convNormUpperBound(k, g);
      const exactOnly = convNormUpperBound(k, g, true, { exact: EXACT_WORK_LIMIT, circular: 0 });
      const circularOnly = convNormUpperBound(k, g, false);
      expect(fast.bound).toBeGreaterThanOrEqual(convSigmaMax(k, spec));
      expect(fast.bound).toBeLessThanOrEqual(exactOnly.bound * (1 + EXACT_GAIN_TOLERANCE));
      if (exactOnly.bound * (1 + EXACT_GAIN_TOLERANCE) * (1 + 1e-9) < circularOnly.bound) {
        exactWins++;
        expect(fast.method).toBe('exact');
        expect(fast.bound).toBe(exactOnly.bound);
      }
    }
    // Random kernels on small inputs: the circular bound is loose by percents, so most cases take the exact one.
    expect(exactWins).toBeGreaterThan(10);
  });
});

describe('ritzLowerEstimate', () => {
  const diagonal =
    (d: Float64Array) =>
    (x: Float64Array, y: Float64Array): void => {
      for (let i = 0; i < d.length; i++) y[i] = d[i] * x[i];
    };

  it('stays below lambda_max and approaches it; `enough` stops it early', () => {
    const r = uniformStream(31, 0, 1);
    const d = Float64Array.from({ length: 300 }, () => r() * 0.9);
    d[17] = 1;
    let calls = 0;
    const counting = (x: Float64Array, y: Float64Array): void => {
      calls++;
      diagonal(d)(x, y);
    };
    const full = ritzLowerEstimate(d.length, counting, 64, () => false);
    expect(calls).toBe(64);
    expect(full).toBeLessThanOrEqual(1 + 1e-12);
    expect(full).toBeGreaterThan(1 - 1e-6);
    calls = 0;
    const early = ritzLowerEstimate(d.length, counting, 64, (theta) => theta > 0.5);
    expect(calls).toBe(8);
    expect(early).toBeGreaterThan(0.5);
    expect(early).toBeLessThanOrEqual(1 + 1e-12);
  });

  it('from a start restricted to a support, still below lambda_max (random convs against their float64 sigma_max)', () => {
    const r = uniformStream(37, -0.5, 0.5);
    for (let t = 0; t < 12; t++) {
      const cin = 1 + (t % 3),
        cout = 1 + ((t + 1) % 3),
        h = 4 + (t % 4),
        w = 5;
      const spec: ConvMatrixSpec = { layout: 'oihw', cin, cout, h, w, kh: 3, kw: 3, strides: [1, 1], pads: [1, 1, 1, 1] };
      const g: ConvBoundGeometry = {
        cout,
        cinPerGroup: cin,
        group: 1,
        kernel: [3, 3],
        strides: [1, 1],
        dilations: [1, 1],
        pads: [1, 1, 1, 1],
        inHW: [h, w],
        outHW: convOutputSize(spec),
      };
      const k = Float64Array.from({ length: cout * cin * 9 }, r);
      const support = interiorSupport(cin, [h, w], g.outHW, [1, 1], [1, 1], [3, 3]);
      const theta = ritzLowerEstimate(cin * h * w, convGramOperator({ k, coutG: cout, cinG: cin, kh: 3, kw: 3 }, g), 32, () => false, 4, support);
      expect(Math.sqrt(theta)).toBeLessThanOrEqual(convSigmaMax(k, spec) * (1 + 1e-9));
    }
  });

  it('an invariant start (a multiple of the identity) ends at once with the exact value', () => {
    let calls = 0;
    const theta = ritzLowerEstimate(
      50,
      (x, y) => {
        calls++;
        for (let i = 0; i < 50; i++) y[i] = 2 * x[i];
      },
      32,
      () => false,
    );
    expect(calls).toBe(1);
    expect(theta).toBeCloseTo(2, 12);
    expect(theta).toBeLessThanOrEqual(2);
  });
});

describe('convGramOperator', () => {
  /** x -> A^T A x by the plain loops (conv, then its transpose, zero weights skipped): the gate's operator before it gathered taps. */
  function plainGram(gk: GroupKernel, g: ConvBoundGeometry, x: Float64Array): Float64Array {
    const { k, cinG, coutG, kh, kw } = gk;
    const [H, W] = g.inHW;
    const [Ho, Wo] = g.outHW;
    const [sh, sw] = g.strides;
    const [pt, pl] = g.pads;
    const out = new Float64Array(coutG * Ho * Wo);
    const y = new Float64Array(cinG * H * W);
    for (let pass = 0; pass < 2; pass++) {
      for (let co = 0; co < coutG; co++) {
        for (let ci = 0; ci < cinG; ci++) {
          for (let ty = 0; ty < kh; ty++) {
            for (let tx = 0; tx < kw; tx++) {
              const v = k[((co * cinG + ci) * kh + ty) * kw + tx];
              if (v === 0) continue;
              for (let oy = 0; oy < Ho; oy++) {
                const iy = oy * sh - pt + ty;
                if (iy < 0 || iy >= H) continue;
                for (let ox = 0; ox < Wo; ox++) {
                  const ix = ox * sw - pl + tx;
                  if (ix < 0 || ix >= W) continue;
                  const o = (co * Ho + oy) * Wo + ox;
                  const i = (ci * H + iy) * W + ix;
                  if (pass === 0) out[o] += v * x[i];
                  else y[i] += v * out[o];
                }
              }
            }
          }
        }
      }
    }
    return y;
  }

  it('gives the plain loops exactly (same sums in the same order), for any padding, stride and zero taps', () => {
    const r = uniformStream(37, -1, 1);
    const pick = (lo: number, hi: number): number => lo + Math.floor(((r() + 1) / 2) * (hi - lo + 1) * 0.999999);
    for (let t = 0; t < 40; t++) {
      const [kh, kw, cinG, coutG, H, W] = [pick(1, 4), pick(1, 4), pick(1, 4), pick(1, 4), pick(1, 8), pick(1, 8)];
      const strides: [number, number] = [pick(1, 3), pick(1, 3)];
      const pads: [number, number, number, number] = [pick(0, kh), pick(0, kw), pick(0, kh), pick(0, kw)];
      const spec: ConvMatrixSpec = { layout: 'oihw', cin: cinG, cout: coutG, h: H, w: W, kh, kw, strides, pads };
      const outHW = convOutputSize(spec);
      if (outHW[0] < 1 || outHW[1] < 1) continue;
      // Some exact zeros, as a dilated kernel has.
      const k = Float64Array.from({ length: coutG * cinG * kh * kw }, () => (r() > 0.6 ? 0 : r()));
      const g: ConvBoundGeometry = { cout: coutG, cinPerGroup: cinG, group: 1, kernel: [kh, kw], strides, dilations: [1, 1], pads, inHW: [H, W], outHW };
      const apply = convGramOperator({ k, coutG, cinG, kh, kw }, g);
      for (let rep = 0; rep < 2; rep++) {
        const x = Float64Array.from({ length: cinG * H * W }, r);
        const y = new Float64Array(x.length).fill(NaN);
        apply(x, y);
        // Equal values (a skipped zero weight may leave +0 where the gather has -0).
        expect(Array.from(y, (v) => v + 0)).toEqual(Array.from(plainGram({ k, coutG, cinG, kh, kw }, g, x), (v) => v + 0));
      }
    }
  });
});

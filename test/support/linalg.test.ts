import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { maxAbsDiff } from './compare';
import { convMatrix, convOutputSize, ConvMatrixSpec, lambdaMax, samePads, sigmaMax, singularValues, symmetricEigenvalues } from './linalg';
import { uniformArray64 } from './random';

const values = (n: number, seed: number): Float64Array => uniformArray64(n, seed, -0.5, 0.5);

/** a [rows, cols] times x [cols]. */
function matVec(a: Float64Array, rows: number, cols: number, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[r] += a[r * cols + c] * x[c];
  return y;
}

/** NHWC [h, w, c] flattened to CHW. */
function toChw(x: ArrayLike<number>, h: number, w: number, c: number): Float64Array {
  const out = new Float64Array(h * w * c);
  for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) out[(ch * h + y) * w + xx] = x[(y * w + xx) * c + ch];
  return out;
}

describe('float64 test helpers: linalg', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('eigenvalues and singular values of known matrices', () => {
    expect(symmetricEigenvalues([2, 1, 1, 2], 2).map((e) => Number(e.toFixed(12)))).toEqual([3, 1]);
    expect(lambdaMax([1, 0, 0, 0, 5, 0, 0, 0, -2], 3)).toBe(5);
    // diag(3, 2) rotated: singular values 3 and 2.
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    const w = [3 * c, -2 * s, 3 * s, 2 * c];
    expect(sigmaMax(w, 2, 2)).toBeCloseTo(3, 12);
    expect(singularValues(w, 2, 2)[1]).toBeCloseTo(2, 12);
    // A wide matrix and its transpose: same singular values, min(rows, cols) of them.
    const a = values(3 * 5, 7);
    const at = Float64Array.from({ length: 15 }, (_, i) => a[(i % 3) * 5 + Math.floor(i / 3)]);
    expect(singularValues(a, 3, 5)).toHaveLength(3);
    const diff = maxAbsDiff(singularValues(a, 3, 5), singularValues(at, 5, 3));
    expect(diff).toBeLessThan(1e-12);
    // Frobenius norm^2 = sum of sigma^2.
    const fro = a.reduce((t, v) => t + v * v, 0);
    expect(singularValues(a, 3, 5).reduce((t, v) => t + v * v, 0)).toBeCloseTo(fro, 12);
  });

  it.each<[string, [number, number, number], [number, number, number], [number, number], 'same' | 'valid']>([
    // [h, w, cin], [kh, kw, cout], strides, padding
    ['same s1', [5, 6, 2], [3, 3, 3], [1, 1], 'same'],
    ['same s2', [7, 6, 2], [3, 2, 2], [2, 2], 'same'],
    ['valid s(2,1)', [6, 5, 3], [2, 3, 2], [2, 1], 'valid'],
  ])('convMatrix (hwio and oihw layouts) equals tf.conv2d: %s', (_label, [h, w, cin], [kh, kw, cout], strides, padding) => {
    const k = values(kh * kw * cin * cout, h * 31 + kh);
    const x = values(h * w * cin, 99);
    const pads = padding === 'same' ? samePads(h, w, [kh, kw], strides) : ([0, 0, 0, 0] as [number, number, number, number]);
    const spec: ConvMatrixSpec = { layout: 'hwio', cin, cout, kh, kw, h, w, strides, pads };
    const m = convMatrix(k, spec);
    const y = tf.conv2d(tf.tensor4d(Float32Array.from(x), [1, h, w, cin]), tf.tensor4d(Float32Array.from(k), [kh, kw, cin, cout]), strides, padding);
    const [, ho, wo] = y.shape;
    expect(m.out).toEqual([ho, wo]);
    expect(convOutputSize(spec)).toEqual([ho, wo]);
    expect(maxAbsDiff(matVec(m.a, m.rows, m.cols, toChw(x, h, w, cin)), toChw(y.dataSync(), ho, wo, cout))).toBeLessThan(1e-5);
    y.dispose();
    // The same kernel in ONNX layout [cout, cin, kh, kw]: the same matrix.
    const oihw = new Float64Array(k.length);
    for (let y0 = 0; y0 < kh; y0++)
      for (let x0 = 0; x0 < kw; x0++)
        for (let ci = 0; ci < cin; ci++)
          for (let co = 0; co < cout; co++) {
            oihw[((co * cin + ci) * kh + y0) * kw + x0] = k[((y0 * kw + x0) * cin + ci) * cout + co];
          }
    expect(convMatrix(oihw, { ...spec, layout: 'oihw' }).a).toEqual(m.a);
  });

  it('convMatrix: circular, dilated and grouped convolutions', () => {
    // Circular 1-channel conv: a circulant, whose spectral norm is the largest |DFT| of the kernel.
    const k = Float64Array.of(1, 2, 0.5);
    const circ = convMatrix(k, { layout: 'hwio', cin: 1, cout: 1, kh: 1, kw: 3, h: 1, w: 4, circular: true });
    expect(Array.from(circ.a)).toEqual([1, 2, 0.5, 0, 0, 1, 2, 0.5, 0.5, 0, 1, 2, 2, 0.5, 0, 1]);
    expect(sigmaMax(circ.a, 4, 4)).toBeCloseTo(3.5, 12);
    // Dilation 2: the taps of a 1x2 kernel two pixels apart.
    const dil = convMatrix(Float64Array.of(1, -1), { layout: 'oihw', cin: 1, cout: 1, kh: 1, kw: 2, h: 1, w: 4, dilations: [1, 2] });
    expect(dil.out).toEqual([1, 2]);
    expect(Array.from(dil.a)).toEqual([1, 0, -1, 0, 0, 1, 0, -1]);
    // Two groups of 1x1 convs: block diagonal.
    const grouped = convMatrix(Float64Array.of(2, 3), { layout: 'oihw', cin: 2, cout: 2, kh: 1, kw: 1, h: 1, w: 1, group: 2 });
    expect(Array.from(grouped.a)).toEqual([2, 0, 0, 3]);
    expect(() => convMatrix(k, { layout: 'hwio', cin: 1, cout: 1, kh: 1, kw: 3, h: 1, w: 4, circular: true, strides: [1, 2] })).toThrow(/strides 1/);
    expect(() => convMatrix(k, { layout: 'hwio', cin: 1, cout: 1, kh: 1, kw: 2, h: 1, w: 4 })).toThrow(/kernel has 3 values, expected 2/);
  });
});

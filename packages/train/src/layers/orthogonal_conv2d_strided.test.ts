import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { maxAbsDiff } from '@lip/test-support';
import { convMatrix, powerIterationSigma, singularValues } from '@lip/test-support/linalg';
import { built, expectTrainsReloadsAndExportsTwin, scrambleRawKernel } from '@lip/test-support/tf';
import { invertibleDownSampling } from '../functional/downsampling';
import { OrthogonalConv2D } from './orthogonal_conv2d';
import { OrthogonalConv2DTranspose } from './orthogonal_conv2d_transpose';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * The strided convolution with kernel `[kh, kw, cin, cout]` (hwio) on the
 * periodic h x w grid, as a float64 matrix (rows `(o, i, j)` of the
 * `h/s x w/s` output, columns `(c, y, x)`), with the 'same' offset `pads`.
 */
function circularStridedMatrix(k: ArrayLike<number>, shape: number[], h: number, w: number, s: [number, number], pads: [number, number]) {
  const [kh, kw, cin, cout] = shape;
  const [ho, wo] = [h / s[0], w / s[1]];
  const rows = cout * ho * wo;
  const cols = cin * h * w;
  const a = new Float64Array(rows * cols);
  const mod = (i: number, n: number): number => ((i % n) + n) % n;
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let c = 0; c < cin; c++)
          for (let u = 0; u < kh; u++)
            for (let v = 0; v < kw; v++) {
              const y = mod(i * s[0] - pads[0] + u, h);
              const x = mod(j * s[1] - pads[1] + v, w);
              a[((o * ho + i) * wo + j) * cols + (c * h + y) * w + x] += k[((u * kw + v) * cin + c) * cout + o];
            }
  return { a, rows, cols };
}

/** Largest singular value by power iteration on `A^T A` (the map and its adjoint), float64. */
/** The zero-padded operator of the layer's effective kernel, as tfjs 'same' applies it (pads (k - 1) s / 2). */
function zeroPaddedMatrix(layer: OrthogonalConv2D, h: number, w: number, converge: boolean) {
  const kernel = layer.effectiveKernel({ converge });
  const [kh, kw, cin, cout] = kernel.shape;
  const [sh, sw] = layer.strides;
  const [pt, pl] = [(kh - sh) / 2, (kw - sw) / 2];
  const m = convMatrix(kernel.dataSync(), { layout: 'hwio', cin, cout, kh, kw, h, w, strides: [sh, sw], pads: [pt, pl, pt, pl] });
  kernel.dispose();
  return m;
}

/** NHWC tensor [1, h, w, c] <-> the CHW vector of convMatrix. */
function toChw(t: tf.Tensor): Float64Array {
  const [, h, w, c] = t.shape;
  const d = t.dataSync();
  const out = new Float64Array(d.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[(k * h + y) * w + x] = d[(y * w + x) * c + k];
  return out;
}

const STRIDED: [cin: number, cout: number, k: number, s: number][] = [
  [1, 4, 3, 2], // s^2 cin = cout: orthogonal
  [2, 4, 3, 2], // s^2 cin > cout: co-isometry (norm-preserving on the row space)
  [2, 12, 3, 2], // s^2 cin < cout: isometry
  [1, 9, 1, 3],
];

describe('OrthogonalConv2D with stride (BCOP after invertible downsampling)', () => {
  test.each(STRIDED)('%i -> %i channels, kernel %i, stride %i: every singular value is 1 on the periodic grid', (cin, cout, k, s) => {
    const h = 3 * s;
    const layer = built(new OrthogonalConv2D({ filters: cout, kernelSize: k, strides: s, seed: 7 }), [h, h, cin]);
    scrambleRawKernel(layer, cin * 13 + cout);
    const kernel = layer.effectiveKernel({ converge: true });
    expect(kernel.shape).toEqual([k * s, k * s, cin, cout]);
    const pad = ((k - 1) * s) / 2;
    const { a, rows, cols } = circularStridedMatrix(kernel.dataSync(), kernel.shape, h, h, [s, s], [pad, pad]);
    kernel.dispose();
    const sv = singularValues(a, rows, cols);
    expect(sv.length).toBe(Math.min(rows, cols));
    expect(Math.max(...sv)).toBeLessThan(1 + 1e-4);
    expect(Math.min(...sv)).toBeGreaterThan(1 - 1e-4);
  });

  test.each(STRIDED)('%i -> %i, kernel %i, stride %i: zero-padded Lipschitz constant (power iteration) <= 1, and tight', (cin, cout, k, s) => {
    const layer = built(new OrthogonalConv2D({ filters: cout, kernelSize: k, strides: s, seed: 3, niterBjorck: 3 }), [4 * s, 2 * s, cin]);
    scrambleRawKernel(layer, cin + 5 * cout);
    for (const converge of [false, true]) {
      const { a, rows, cols } = zeroPaddedMatrix(layer, 4 * s, 2 * s, converge);
      const sigma = powerIterationSigma(a, rows, cols, 500, (i) => Math.sin(i + 1));
      expect(sigma).toBeLessThanOrEqual(1 + 1e-5);
      if (converge) expect(sigma).toBeGreaterThan(0.95);
    }
  });

  test('the layer is the stride-1 BCOP convolution of the space-to-depth input', () => {
    const layer = built(new OrthogonalConv2D({ filters: 5, kernelSize: 3, strides: 2, seed: 4, useBias: false }), [6, 8, 2]);
    const x = tf.randomNormal([2, 6, 8, 2], 0, 1, 'float32', 9) as tf.Tensor4D;
    const kernel = layer.effectiveKernel() as tf.Tensor4D;
    // fold the composed kernel back: K[a, b, (dy s + dx) cin + c, o] = K'[a s + dy, b s + dx, c, o]
    const folded = tf.reshape(tf.transpose(tf.reshape(kernel, [3, 2, 3, 2, 2, 5]), [0, 2, 1, 3, 4, 5]), [3, 3, 8, 5]) as tf.Tensor4D;
    const viaDownsampling = tf.conv2d(invertibleDownSampling(x, [2, 2]), folded, 1, 'same');
    expect(maxAbsDiff(layer.apply(x) as tf.Tensor, viaDownsampling)).toBeLessThan(1e-5);
  });

  test('validation: input sizes must be multiples of the stride; the output shape', () => {
    const layer = new OrthogonalConv2D({ filters: 4, kernelSize: 3, strides: 2 });
    expect(() => layer.apply(tf.zeros([1, 5, 6, 1]))).toThrow(/multiple of 'strides'/);
    const valid = new OrthogonalConv2D({ filters: 4, kernelSize: 3, strides: 2, padding: 'valid' });
    expect((valid.apply(tf.zeros([1, 8, 6, 1])) as tf.Tensor).shape).toEqual([1, 2, 1, 4]);
    expect(valid.computeOutputShape([null, 8, 6, 1])).toEqual([null, 2, 1, 4]);
  });

  test('trains (gradients reach the factors), serializes, exports a Conv2D twin, and a frozen kernel gives the same map', async () => {
    const layer = new OrthogonalConv2D({ filters: 6, kernelSize: 3, strides: 2, seed: 3, inputShape: [6, 6, 2] });
    const x = tf.randomUniform([3, 6, 6, 2], 0, 1, 'float32', 1);
    const model = await expectTrainsReloadsAndExportsTwin(layer, x, OrthogonalConv2D, 'Conv2D');
    const unfrozen = model.predict(x) as tf.Tensor;
    layer.freezeEffectiveKernel();
    expect(maxAbsDiff(model.predict(x) as tf.Tensor, unfrozen)).toBe(0);
    layer.unfreezeEffectiveKernel();
  });
});

describe('OrthogonalConv2DTranspose (adjoint of the strided orthogonal convolution)', () => {
  test.each([
    [4, 1, 3, 2],
    [4, 2, 3, 2],
    [3, 2, 3, 1],
  ])('%i -> %i channels, kernel %i, stride %i: the map is A^T of the convolution, so its norm is the same (<= 1, tight)', (cin, filters, k, s) => {
    const [h, w] = [3, 2];
    const layer = built(new OrthogonalConv2DTranspose({ filters, kernelSize: k, strides: s, seed: 5, useBias: false }), [h, w, cin]);
    scrambleRawKernel(layer, 17 * cin + filters);
    const y = tf.randomNormal([1, h, w, cin], 0, 1, 'float32', 2);
    const out = layer.apply(y) as tf.Tensor;
    expect(out.shape).toEqual([1, h * s, w * s, filters]);
    // the convolution from `filters` channels on the (h s) x (w s) grid, in float64
    const kernel = layer.effectiveKernel();
    expect(kernel.shape).toEqual([k * s, k * s, filters, cin]);
    const pad = ((k - 1) * s) / 2;
    const m = convMatrix(kernel.dataSync(), {
      layout: 'hwio',
      cin: filters,
      cout: cin,
      kh: k * s,
      kw: k * s,
      h: h * s,
      w: w * s,
      strides: [s, s],
      pads: [pad, pad, pad, pad],
    });
    kernel.dispose();
    const yv = toChw(y);
    const adjoint = new Float64Array(m.cols);
    for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) adjoint[c] += m.a[r * m.cols + c] * yv[r];
    const got = toChw(out);
    let err = 0;
    for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - adjoint[i]));
    expect(err).toBeLessThan(1e-5);
    const sigma = powerIterationSigma(m.a, m.rows, m.cols, 500, (i) => Math.sin(i + 1));
    expect(sigma).toBeLessThanOrEqual(1 + 1e-5);
    expect(sigma).toBeGreaterThan(0.9);
  });

  test('trains, serializes, exports a Conv2DTranspose twin', async () => {
    const layer = new OrthogonalConv2DTranspose({ filters: 2, kernelSize: 3, strides: 2, seed: 3, inputShape: [3, 3, 6] });
    const x = tf.randomUniform([2, 3, 3, 6], 0, 1, 'float32', 1);
    const model = await expectTrainsReloadsAndExportsTwin(layer, x, OrthogonalConv2DTranspose, 'Conv2DTranspose');
    expect((model.predict(x) as tf.Tensor).shape).toEqual([2, 6, 6, 2]);
  });
});

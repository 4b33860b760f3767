import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { convMatrix, singularValues } from '@lip/test-support/linalg';
import { built, expectTrainsReloadsAndExportsTwin, scrambleRawKernel } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { OrthogonalConv2D } from './orthogonal_conv2d';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Singular values of the layer's convolution on an h x w grid, circular or zero-padded 'same'. */
function spectrum(layer: OrthogonalConv2D, h: number, w: number, circular: boolean, converge: boolean): number[] {
  const kernel = layer.effectiveKernel({ converge });
  const [kh, kw, cin, cout] = kernel.shape;
  const ph = (kh - 1) / 2;
  const pw = (kw - 1) / 2;
  const { a, rows, cols } = convMatrix(kernel.dataSync(), {
    layout: 'hwio',
    cin,
    cout,
    kh,
    kw,
    h,
    w,
    pads: [ph, pw, ph, pw],
    circular,
  });
  kernel.dispose();
  return singularValues(a, rows, cols);
}

const SHAPES: [number, number, number][] = [
  // cin, cout, kernel
  [1, 4, 3],
  [3, 3, 3],
  [2, 6, 3],
  [6, 2, 3],
  [4, 4, 5],
  [3, 5, 1],
];

describe('OrthogonalConv2D (BCOP)', () => {
  test('validation: odd kernels', () => {
    expect(() => new OrthogonalConv2D({ filters: 2, kernelSize: 2 })).toThrow(InvalidArgumentError);
    expect(() => new OrthogonalConv2D({ filters: 2, kernelSize: 2 })).toThrow(/odd/);
    expect(() => new OrthogonalConv2D({ filters: 2, kernelSize: 3, niterBjorck: 0 })).toThrow(/niterBjorck/);
  });

  test.each(SHAPES)('%i -> %i channels, kernel %i: orthogonal on the circular grid once converged (all singular values 1)', (cin, cout, k) => {
    const layer = built(new OrthogonalConv2D({ filters: cout, kernelSize: k, seed: 11 }), [6, 6, cin]);
    scrambleRawKernel(layer, cin * 10 + cout);
    const s = spectrum(layer, 6, 6, true, true);
    expect(s.length).toBe(Math.min(cin, cout) * 36);
    expect(Math.max(...s)).toBeLessThan(1 + 1e-5);
    expect(Math.min(...s)).toBeGreaterThan(1 - 1e-5);
  });

  test.each(SHAPES)('%i -> %i channels, kernel %i: zero-padded norm <= 1 in training mode and converged', (cin, cout, k) => {
    const layer = built(new OrthogonalConv2D({ filters: cout, kernelSize: k, seed: 5, niterBjorck: 3 }), [5, 7, cin]);
    scrambleRawKernel(layer, cin + 7 * cout);
    for (const converge of [false, true]) {
      const s = spectrum(layer, 5, 7, false, converge);
      expect(Math.max(...s)).toBeLessThanOrEqual(1 + 1e-5);
      // tight: the top singular value is 1 up to the border effect
      if (converge) expect(Math.max(...s)).toBeGreaterThan(0.95);
    }
    // circular grid in training mode (3 Björck steps, far from converged): still a contraction
    expect(Math.max(...spectrum(layer, 5, 7, true, false))).toBeLessThanOrEqual(1 + 1e-5);
  });

  test('kCoefLip scales every singular value', () => {
    const layer = built(new OrthogonalConv2D({ filters: 4, kernelSize: 3, seed: 2, kCoefLip: 2 }), [6, 6, 2]);
    const s = spectrum(layer, 6, 6, true, true);
    expect(Math.max(...s)).toBeCloseTo(2, 4);
    expect(Math.min(...s)).toBeCloseTo(2, 4);
  });

  test('trains (the factors get gradients), serializes, and exports a plain twin', async () => {
    const layer = new OrthogonalConv2D({ filters: 4, kernelSize: 3, seed: 3, inputShape: [6, 6, 2] });
    const x = tf.randomUniform([3, 6, 6, 2], 0, 1, 'float32', 1);
    await expectTrainsReloadsAndExportsTwin(layer, x, OrthogonalConv2D, 'Conv2D');
  });
});

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { uniformArray } from '@lip/test-support';
import { sigmaMax } from '@lip/test-support/linalg';
import { useBackend } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { powerIteration, powerIterationToConvergence, spectralNormalize } from './power_iteration';

/** A seeded uniform [rows, cols] matrix and its largest singular value in float64. */
function randomMatrix(rows: number, cols: number, seed: number): { w: tf.Tensor2D; expected: number } {
  const data = uniformArray(rows * cols, seed);
  return { w: tf.tensor2d(data, [rows, cols]), expected: sigmaMax(data, rows, cols) };
}

describe.each(['cpu', 'wasm'])('powerIteration on %s', (backend) => {
  useBackend(backend);

  it.each([
    [20, 12],
    [7, 30],
  ])('converges to the largest singular value of a random [%i, %i] matrix', (rows, cols) => {
    const { w, expected } = randomMatrix(rows, cols, rows + 31 * cols);
    const u0 = tf.tensor2d(uniformArray(cols, 5), [1, cols]);
    const r = powerIteration(w, u0, 300);
    const sigma = r.sigma.dataSync()[0];
    expect(Math.abs(sigma - expected)).toBeLessThanOrEqual(2e-6 * expected);
    // Unit vectors, and v w = sigma u.
    expect(tf.norm(r.u).dataSync()[0]).toBeCloseTo(1, 5);
    expect(tf.norm(r.v).dataSync()[0]).toBeCloseTo(1, 5);
    const vw = tf.matMul(r.v, w).dataSync();
    const u = r.u.dataSync();
    for (let j = 0; j < cols; j++) expect(Math.abs(vw[j] - sigma * u[j])).toBeLessThan(1e-4 * expected);
    tf.dispose([w, u0, r.u, r.v, r.sigma]);
  });

  it('keeps nothing but its results, and a few steps underestimate sigma', () => {
    const rows = 16;
    const cols = 9;
    const { w, expected } = randomMatrix(rows, cols, 77);
    const u0 = tf.tensor2d(uniformArray(cols, 8), [1, cols]);
    const before = tf.memory().numTensors;
    const r = powerIteration(w, u0, 2);
    expect(tf.memory().numTensors).toBe(before + 3);
    expect(r.u.shape).toEqual([1, cols]);
    expect(r.v.shape).toEqual([1, rows]);
    expect(r.sigma.shape).toEqual([]);
    const sigma = r.sigma.dataSync()[0];
    expect(sigma).toBeLessThanOrEqual(expected * (1 + 1e-6));
    expect(sigma).toBeGreaterThan(0.5 * expected);
    tf.dispose([w, u0, r.u, r.v, r.sigma]);
  });

  it('with niter = 0 returns u unchanged (a copy) and its partner v', () => {
    const w = tf.tensor2d([
      [2, 0],
      [0, 1],
      [0, 0],
    ]);
    const u0 = tf.tensor2d([[0.6, 0.8]]);
    const r = powerIteration(w, u0, 0);
    expect(r.u).not.toBe(u0);
    expect(Array.from(r.u.dataSync())).toEqual(Array.from(u0.dataSync()));
    // v = normalize(u w^T) = normalize([1.2, 0.8, 0])
    const n = Math.hypot(1.2, 0.8);
    const v = r.v.dataSync();
    expect(v[0]).toBeCloseTo(1.2 / n, 6);
    expect(v[1]).toBeCloseTo(0.8 / n, 6);
    expect(v[2]).toBe(0);
    tf.dispose([w, u0, r.u, r.v, r.sigma]);
  });

  it('spectralNormalize divides by v w u^T and has spectral norm 1 at convergence', () => {
    const rows = 12;
    const cols = 10;
    const data = uniformArray(rows * cols, 99);
    const w = tf.tensor2d(data, [rows, cols]);
    const r = powerIterationToConvergence(w);
    expect(r.converged).toBe(true);
    const wn = spectralNormalize(w, r.u, r.v);
    const normalized = wn.dataSync();
    expect(Math.abs(sigmaMax(normalized, rows, cols) - 1)).toBeLessThan(1e-6);
    tf.dispose([w, r.u, r.v, r.sigma, wn]);
  });

  it('spectralNormalize: gradient in w treats u and v as constants', () => {
    // f(w) = sum(R * w / s), s = v w u^T  =>  df/dw = R / s - (sum(R * w) / s^2) v^T u
    const rows = 5;
    const cols = 4;
    const wData = uniformArray(rows * cols, 1);
    const rData = uniformArray(rows * cols, 2);
    const w = tf.tensor2d(wData, [rows, cols]);
    const rr = tf.tensor2d(rData, [rows, cols]);
    const pi = powerIteration(w, tf.ones([1, cols]) as tf.Tensor2D, 50);
    const u = Float64Array.from(pi.u.dataSync());
    const v = Float64Array.from(pi.v.dataSync());
    const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(rr, spectralNormalize(x as tf.Tensor2D, pi.u, pi.v))))(w);
    let s = 0;
    let rw = 0;
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) {
        s += v[i] * wData[i * cols + j] * u[j];
        rw += rData[i * cols + j] * wData[i * cols + j];
      }
    const g = grad.dataSync();
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) {
        const expected = rData[i * cols + j] / s - (rw / (s * s)) * v[i] * u[j];
        expect(Math.abs(g[i * cols + j] - expected)).toBeLessThan(1e-5 * (1 + Math.abs(expected)));
      }
    tf.dispose([w, rr, pi.u, pi.v, pi.sigma, grad]);
  });

  it('spectralNormalize keeps a zero kernel at zero (no NaN)', () => {
    const w = tf.zeros([3, 2]) as tf.Tensor2D;
    const r = powerIteration(w, tf.tensor2d([[1, 0]]), 3);
    const out = spectralNormalize(w, r.u, r.v);
    expect(Array.from(out.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([w, r.u, r.v, r.sigma, out]);
  });
});

describe('powerIterationToConvergence', () => {
  useBackend('cpu');

  it('matches the float64 largest singular value to float32 precision', () => {
    const rows = 30;
    const cols = 20;
    const { w, expected } = randomMatrix(rows, cols, 4242);
    const r = powerIterationToConvergence(w);
    expect(r.converged).toBe(true);
    expect(r.iterations).toBeGreaterThan(5);
    expect(Math.abs(r.sigma.dataSync()[0] - expected)).toBeLessThanOrEqual(1e-7 * expected);
    tf.dispose([w, r.u, r.v, r.sigma]);
  });

  it('starts from the given vector and reports maxIter exhaustion', () => {
    const w = tf.tensor2d(uniformArray(8 * 6, 3), [8, 6]);
    const u = tf.tensor2d(uniformArray(6, 4), [1, 6]);
    const one = powerIterationToConvergence(w, u, { maxIter: 1 });
    const step = powerIteration(w, u, 1);
    expect(one.converged).toBe(false);
    expect(one.iterations).toBe(1);
    const a = one.u.dataSync();
    const b = step.u.dataSync();
    for (let i = 0; i < 6; i++) expect(a[i]).toBeCloseTo(b[i], 5);
    tf.dispose([w, u, one.u, one.v, one.sigma, step.u, step.v, step.sigma]);
  });

  it('returns sigma 0 and a unit u for a zero matrix', () => {
    const w = tf.zeros([4, 3]) as tf.Tensor2D;
    const r = powerIterationToConvergence(w);
    expect(r.converged).toBe(true);
    expect(r.sigma.dataSync()[0]).toBe(0);
    expect(tf.norm(r.u).dataSync()[0]).toBeCloseTo(1, 6);
    tf.dispose([w, r.u, r.v, r.sigma]);
  });
});

describe('argument checks', () => {
  it('rejects mismatched shapes with InvalidArgumentError naming the parameter', () => {
    const w = tf.ones([3, 2]) as tf.Tensor2D;
    const bad = tf.ones([1, 3]) as tf.Tensor2D;
    const good = tf.ones([1, 2]) as tf.Tensor2D;
    expect(() => powerIteration(w, bad, 1)).toThrow(InvalidArgumentError);
    expect(() => powerIteration(w, bad, 1)).toThrow("powerIteration: 'u' must have shape [1, 2], got [1, 3]");
    expect(() => powerIteration(w, good, -2)).toThrow("'niter' must be an integer >= 0, got -2");
    expect(() => spectralNormalize(w, good, good)).toThrow("spectralNormalize: 'v' must have shape [1, 3], got [1, 2]");
    expect(() => powerIterationToConvergence(w, bad)).toThrow("'u' must have shape [1, 2], got [1, 3]");
    tf.dispose([w, bad, good]);
  });
});

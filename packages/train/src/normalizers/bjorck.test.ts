import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { expectCloseRelMax, uniformArray } from '@lip/test-support';
import { useBackend } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_NITER_BJORCK } from '../constants';
import { bjorckOrthonormalize, bjorckOrthonormalizeToConvergence } from './bjorck';

interface BjorckCase {
  w: number[][];
  niter: number;
  result: number[][];
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../../testdata/torchlip-v0.1.1-reference.json'), 'utf8')) as { bjorck: BjorckCase[] };

/** max |w^T w - I| (or |w w^T - I| when rows < cols), in float64. */
function orthonormalityError(w: ArrayLike<number>, rows: number, cols: number): number {
  const byCols = cols <= rows;
  const n = byCols ? cols : rows;
  let err = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      if (byCols) for (let r = 0; r < rows; r++) s += w[r * cols + i] * w[r * cols + j];
      else for (let c = 0; c < cols; c++) s += w[i * cols + c] * w[j * cols + c];
      err = Math.max(err, Math.abs(s - (i === j ? 1 : 0)));
    }
  }
  return err;
}

describe.each(['cpu', 'wasm'])('bjorckOrthonormalize on %s', (backend) => {
  useBackend(backend);

  it.each(fixture.bjorck.map((c, i) => [i, c] as const))('matches deel-torchlip v0.1.1 fixture case %i to 1e-6 relative', (_i, c) => {
    const out = tf.tidy(() => bjorckOrthonormalize(tf.tensor2d(c.w), c.niter).dataSync());
    expectCloseRelMax(out, c.result.flat());
  });

  it('uses DEFAULT_NITER_BJORCK by default', () => {
    const c = fixture.bjorck[0];
    expect(c.niter).toBe(DEFAULT_NITER_BJORCK);
    const a = tf.tidy(() => bjorckOrthonormalize(tf.tensor2d(c.w)).dataSync());
    expectCloseRelMax(a, c.result.flat());
  });

  it('returns a copy for niter = 0 and leaks no tensors', () => {
    const w = tf.tensor2d([
      [0.5, 0.1],
      [0.2, 0.3],
    ]);
    const before = tf.memory().numTensors;
    const out = bjorckOrthonormalize(w, 0);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(out).not.toBe(w);
    expect(Array.from(out.dataSync())).toEqual(Array.from(w.dataSync()));
    tf.dispose([w, out]);
  });

  it('is differentiable', () => {
    const w = tf.tensor2d(uniformArray(6 * 4, 3), [6, 4]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(bjorckOrthonormalize(x as tf.Tensor2D, 5)))(w);
    expect(g.shape).toEqual([6, 4]);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    const norm = tf.norm(g).dataSync()[0];
    expect(norm).toBeGreaterThan(0);
    tf.dispose([w, g]);
  });
});

/** The straightforward iteration on `w` itself: w <- (1 + beta) w - beta w (w^T w). */
function bjorckDirect(w: tf.Tensor2D, niter: number, beta = 0.5): tf.Tensor2D {
  return tf.tidy(() => {
    let x = w;
    for (let i = 0; i < niter; i++) {
      const cubic = x.shape[1] <= x.shape[0] ? tf.matMul(x, tf.matMul(x, x, true, false)) : tf.matMul(tf.matMul(x, x, false, true), x);
      x = tf.sub(tf.mul(x, 1 + beta), tf.mul(cubic, beta));
    }
    return x;
  });
}

describe('the Gram-matrix forms of bjorckOrthonormalize (cpu)', () => {
  useBackend('cpu');

  // Small sides run in float64 JS (bjorck_small.ts), larger ones as tfjs ops on the Gram matrix.
  it.each([
    [200, 12],
    [12, 200],
    [144, 32],
    [300, 40],
    [40, 300],
  ])('equals the direct iteration on [%i, %i], value and gradient', (rows, cols) => {
    // Spectral norm about 1, as after spectral normalization.
    const w = tf.tidy(() => {
      const raw = tf.tensor2d(uniformArray(rows * cols, rows + 7 * cols), [rows, cols]);
      const top = Math.sqrt(rows) + Math.sqrt(cols);
      return tf.mul(raw, Math.sqrt(3) / top) as tf.Tensor2D;
    });
    const r = tf.tensor2d(uniformArray(rows * cols, 99), [rows, cols]);
    const loss = (f: (x: tf.Tensor2D) => tf.Tensor2D) => (x: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor2D), r));
    const fast = tf.tidy(() => [
      bjorckOrthonormalize(w, 15).dataSync(),
      tf
        .grad(loss((x) => bjorckOrthonormalize(x, 15)))(w)
        .dataSync(),
    ]);
    const direct = tf.tidy(() => [
      bjorckDirect(w, 15).dataSync(),
      tf
        .grad(loss((x) => bjorckDirect(x, 15)))(w)
        .dataSync(),
    ]);
    expectCloseRelMax(fast[0], direct[0], 1e-5);
    expectCloseRelMax(fast[1], direct[1], 1e-4);
    tf.dispose([w, r]);
  });
});

describe('bjorckOrthonormalizeToConvergence', () => {
  useBackend('cpu');

  it.each([
    [64, 10],
    [16, 32],
    [20, 20],
  ])('reaches an orthonormal matrix for [%i, %i]', (rows, cols) => {
    const data = uniformArray(rows * cols, rows * 100 + cols);
    // Scale so the spectral norm is well above sqrt(3): plain Björck would diverge.
    const w = tf.mul(tf.tensor2d(data, [rows, cols]), 10) as tf.Tensor2D;
    const before = orthonormalityError(data, rows, cols);
    const r = bjorckOrthonormalizeToConvergence(w);
    expect(r.converged).toBe(true);
    expect(r.iterations).toBeGreaterThan(1);
    expect(r.iterations).toBeLessThan(200);
    expect(r.w.shape).toEqual([rows, cols]);
    expect(before).toBeGreaterThan(0.1);
    expect(orthonormalityError(r.w.dataSync(), rows, cols)).toBeLessThan(1e-6);
    tf.dispose([w, r.w]);
  });

  it('converges to the same polar factor as the fixed-step iteration', () => {
    const c = fixture.bjorck[2];
    const w = tf.tensor2d(c.w);
    const r = bjorckOrthonormalizeToConvergence(w);
    const steps = bjorckOrthonormalize(w, 60);
    expectCloseRelMax(r.w.dataSync(), steps.dataSync(), 1e-5);
    tf.dispose([w, r.w, steps]);
  });

  it('reports non-convergence when maxIter is reached', () => {
    const w = tf.tensor2d(uniformArray(8 * 4, 1), [8, 4]);
    const r = bjorckOrthonormalizeToConvergence(w, { maxIter: 2 });
    expect(r.converged).toBe(false);
    expect(r.iterations).toBe(2);
    tf.dispose([w, r.w]);
  });

  it('keeps a zero matrix at zero', () => {
    const w = tf.zeros([3, 2]) as tf.Tensor2D;
    const r = bjorckOrthonormalizeToConvergence(w);
    expect(r.converged).toBe(true);
    expect(Array.from(r.w.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([w, r.w]);
  });
});

describe('argument checks', () => {
  it('rejects bad arguments with InvalidArgumentError naming the parameter', () => {
    const w = tf.ones([2, 2]) as tf.Tensor2D;
    const v = tf.ones([4]) as unknown as tf.Tensor2D;
    expect(() => bjorckOrthonormalize(v)).toThrow(InvalidArgumentError);
    expect(() => bjorckOrthonormalize(v)).toThrow("bjorckOrthonormalize: 'w' must be a 2-D tensor [in, out], got shape [4]");
    expect(() => bjorckOrthonormalize(w, -1)).toThrow("'niter' must be an integer >= 0, got -1");
    expect(() => bjorckOrthonormalize(w, 1.5)).toThrow("'niter' must be an integer >= 0, got 1.5");
    expect(() => bjorckOrthonormalize(w, 3, 0)).toThrow("'beta' must be a finite number > 0, got 0");
    expect(() => bjorckOrthonormalizeToConvergence(w, { tol: 0 })).toThrow("'tol' must be a finite number > 0, got 0");
    expect(() => bjorckOrthonormalizeToConvergence(w, { maxIter: 0 })).toThrow("'maxIter' must be an integer >= 1, got 0");
    let caught: unknown;
    try {
      bjorckOrthonormalize(w, -1);
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).name).toBe('InvalidArgumentError');
    tf.dispose([w, v]);
  });
});

/**
 * The gradient attacks against linear classifiers `z = W x + c`, where the
 * smallest adversarial perturbation is known in closed form: min over j != y of
 * (z_y - z_j) / ||w_y - w_j|| when the box [0, 1] does not bind, and otherwise
 * (KKT of min ||delta|| s.t. (w_j - w_y).delta >= z_y - z_j, box) the
 * perturbation clip(t (w_j - w_y)) at the t that closes the gap.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's CommonJS build registers no gradients; tfjs-layers' does (as translate.ts imports it).
import '@tensorflow/tfjs-layers';
import { uniformArray } from '@lip/test-support';
import { orthonormalRows } from '@lip/test-support/linalg';
import { useBackend } from '@lip/test-support/tf';
import { LogitsFn, Nchw, rowDistance } from './common';
import { deepFoolL2 } from './deepfool';
import { fmnL2, projectBallBox } from './fmn';
import { pgdL2, pgdRandomStart } from './pgd';

interface Linear {
  f: LogitsFn;
  /** Rows w_j, float64, [k, d]. */
  W: Float64Array;
  c: Float64Array;
  k: number;
  d: number;
}

/** `z = W x + c` as a differentiable tfjs function on NCHW batches, with float32 weights (the float64 copies are exact). */
function linear(W: Float64Array, c: Float64Array, k: number, d: number): Linear {
  const W32 = Float32Array.from(W);
  const c32 = Float32Array.from(c);
  const wt = new Float32Array(d * k);
  for (let j = 0; j < k; j++) for (let p = 0; p < d; p++) wt[p * k + j] = W32[j * d + p];
  const f: LogitsFn = (x) => tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], d]), tf.tensor2d(wt, [d, k])), tf.tensor1d(c32)));
  return { f, W: Float64Array.from(W32), c: Float64Array.from(c32), k, d };
}

function logits(m: Linear, x: Float32Array, i: number): number[] {
  return Array.from({ length: m.k }, (_, j) => {
    let s = m.c[j];
    for (let p = 0; p < m.d; p++) s += m.W[j * m.d + p] * x[i * m.d + p];
    return s;
  });
}

function argmax(z: number[]): number {
  return z.indexOf(Math.max(...z));
}

/**
 * Smallest L2 perturbation of image i that makes some class j beat `y` inside
 * the box [0, 1]: per j, delta(t) = clip(t u, -x, 1 - x) with u = w_j - w_y, and
 * u.delta(t) (nondecreasing in t) equal to the gap z_y - z_j (bisection on t).
 */
function exactDistance(m: Linear, x: Float32Array, i: number, y: number): { distance: number; boxBinds: boolean } {
  const z = logits(m, x, i);
  let best = Infinity;
  let boxBinds = false;
  for (let j = 0; j < m.k; j++) {
    if (j === y) continue;
    const u = Array.from({ length: m.d }, (_, p) => m.W[j * m.d + p] - m.W[y * m.d + p]);
    const delta = (t: number): number[] => u.map((v, p) => Math.min(1 - x[i * m.d + p], Math.max(-x[i * m.d + p], t * v)));
    const gain = (t: number): number => delta(t).reduce((s, v, p) => s + v * u[p], 0);
    const gap = z[y] - z[j];
    let hi = 1;
    while (gain(hi) < gap && hi < 1e6) hi *= 2;
    if (gain(hi) < gap) continue;
    let lo = 0;
    for (let s = 0; s < 100; s++) {
      const mid = (lo + hi) / 2;
      if (gain(mid) < gap) lo = mid;
      else hi = mid;
    }
    const dist = Math.sqrt(delta(hi).reduce((s, v) => s + v * v, 0));
    if (dist < best) {
      best = dist;
      boxBinds = delta(hi).some((v, p) => v !== hi * u[p]);
    }
  }
  return { distance: best, boxBinds };
}

function distances(adv: Float32Array, x: Float32Array, n: number, d: number): number[] {
  return Array.from({ length: n }, (_, i) => rowDistance(adv, x, i, d));
}

/** A random linear classifier with images in the middle of the box, so the box never binds at these distances. */
function midBoxProblem(n: number, d: number, k: number, seed: number): { m: Linear; x: Float32Array; preds: number[]; exact: number[] } {
  const m = linear(Float64Array.from(uniformArray(k * d, seed)), Float64Array.from(uniformArray(k, seed + 1, -0.5, 0.5)), k, d);
  const x = Float32Array.from(uniformArray(n * d, seed + 2), (v) => 0.5 + 0.1 * v);
  const preds = Array.from({ length: n }, (_, i) => argmax(logits(m, x, i)));
  const exact = preds.map((y, i) => {
    const e = exactDistance(m, x, i, y);
    expect(e.boxBinds).toBe(false);
    return e.distance;
  });
  return { m, x, preds, exact };
}

describe('attacks against linear classifiers (closed-form minimal distances)', () => {
  useBackend('cpu');

  it('fmn finds every minimal adversarial, within 1% of margin / ||w_y - w_j||', () => {
    const n = 12;
    const d = 64;
    const k = 10;
    // Orthonormal rows times 3: ||w_y - w_j|| = 3 sqrt(2) for every pair, so the nearest boundary is the
    // best other class's, the one FMN follows (with unequal ||w_y - w_j||, FMN, like any attack on the
    // margin, can settle on a farther class's boundary: a local optimum; deepfool compares every class).
    const m = linear(
      orthonormalRows(k, d, 11).map((v) => 3 * v),
      Float64Array.from(uniformArray(k, 12, -0.5, 0.5)),
      k,
      d,
    );
    const x = Float32Array.from(uniformArray(n * d, 13), (v) => 0.5 + 0.1 * v);
    const preds = Array.from({ length: n }, (_, i) => argmax(logits(m, x, i)));
    const exact = preds.map((y, i) => {
      const z = logits(m, x, i);
      const j = z.map((v, jj) => (jj === y ? -Infinity : v)).reduce((b, v, jj, all) => (v > all[b] ? jj : b), 0);
      let s = 0;
      for (let p = 0; p < d; p++) s += (m.W[y * d + p] - m.W[j * d + p]) ** 2;
      const closed = (z[y] - z[j]) / Math.sqrt(s);
      const e = exactDistance(m, x, i, y);
      expect(e.boxBinds).toBe(false);
      expect(e.distance).toBeCloseTo(closed, 9);
      return closed;
    });
    const out = fmnL2(m.f, x, [n, 1, 8, 8], preds);
    expect(out.found).toEqual(new Array(n).fill(true));
    distances(out.adv, x, n, d).forEach((dist, i) => {
      expect(argmax(logits(m, out.adv, i))).not.toBe(preds[i]);
      expect(dist).toBeGreaterThanOrEqual(exact[i] * (1 - 1e-5) - 1e-6);
      expect(dist).toBeLessThanOrEqual(exact[i] * 1.01);
    });
  });

  it('fmn reaches the minimal distance when the box binds (dark pixels the gradient pushes below 0)', () => {
    const n = 8;
    const d = 64;
    const k = 4;
    const m = linear(Float64Array.from(uniformArray(k * d, 31)), Float64Array.from(uniformArray(k, 32, -0.5, 0.5)), k, d);
    // Half of each image at 0, as a Fashion-MNIST background.
    const x = Float32Array.from(uniformArray(n * d, 33), (v, p) => (p % 2 === 0 ? 0 : 0.5 + 0.2 * v));
    const preds = Array.from({ length: n }, (_, i) => argmax(logits(m, x, i)));
    const exact = preds.map((y, i) => exactDistance(m, x, i, y));
    expect(exact.every((e) => e.boxBinds)).toBe(true);
    const out = fmnL2(m.f, x, [n, 1, 8, 8], preds);
    expect(out.found).toEqual(new Array(n).fill(true));
    distances(out.adv, x, n, d).forEach((dist, i) => {
      expect(out.adv.subarray(i * d, (i + 1) * d).every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(dist).toBeGreaterThanOrEqual(exact[i].distance * (1 - 1e-5) - 1e-6);
      expect(dist).toBeLessThanOrEqual(exact[i].distance * 1.01);
    });
  });

  it('fmn restarts an image whose first steps found nothing from the boundary with a point of another class', () => {
    const n = 6;
    const d = 64;
    // Two classes: z_0 = 0.5, z_1 = relu(v.x - t). At the inputs v.x < t: the gradient vanishes,
    // so the steps cannot move. The adversarial region is v.x >= t + 0.5, at (t + 0.5 - v.x) / ||v||.
    const v = Float32Array.from(uniformArray(d, 21), (r) => 0.5 + 0.5 * r);
    const x = Float32Array.from(uniformArray(n * d, 22), (r) => 0.5 + 0.1 * r);
    const vx = Array.from({ length: n }, (_, i) => v.reduce((s, w, p) => s + w * x[i * d + p], 0));
    const t = Math.max(...vx) + 0.2;
    const vNorm = Math.sqrt(v.reduce((s, w) => s + w * w, 0));
    const exact = vx.map((a) => (t + 0.5 - a) / vNorm);
    const f: LogitsFn = (xs) =>
      tf.tidy(() => {
        const z1 = tf.relu(tf.sub(tf.matMul(tf.reshape(xs, [xs.shape[0], d]), tf.tensor2d(v, [d, 1])), t));
        return tf.concat([tf.fill([xs.shape[0], 1], 0.5), z1], 1) as tf.Tensor2D;
      });
    const preds = new Array<number>(n).fill(0);
    const without = fmnL2(f, x, [n, 1, 8, 8], preds, { initAfter: 100 });
    expect(without.found).toEqual(new Array(n).fill(false));
    const out = fmnL2(f, x, [n, 1, 8, 8], preds);
    expect(out.found).toEqual(new Array(n).fill(true));
    // The restart begins on a far side of the boundary (towards random noise); the remaining steps close most of the gap.
    const ratios = distances(out.adv, x, n, d).map((dist, i) => dist / exact[i]);
    for (const r of ratios) {
      expect(r).toBeGreaterThanOrEqual(1 - 1e-5);
      expect(r).toBeLessThanOrEqual(1.5);
    }
    expect(ratios.filter((r) => r <= 1.01).length).toBeGreaterThanOrEqual(n / 2);
  });

  it('fmn returns the point closest to the boundary where it found nothing', () => {
    const n = 4;
    const { m, x, preds, exact } = midBoxProblem(n, 64, 10, 51);
    // One step without overshoot lands on the boundary, not clearly past it.
    const out = fmnL2(m.f, x, [n, 1, 8, 8], preds, { steps: 1, gamma: 0 });
    expect(out.found).toEqual(new Array(n).fill(false));
    distances(out.adv, x, n, 64).forEach((dist, i) => {
      expect(dist).toBeGreaterThanOrEqual(exact[i] * (1 - 1e-5) - 1e-6);
      expect(dist).toBeLessThan(exact[i] * 3);
    });
  });

  it('deepfool considers every class: the nearest boundary can be the one with the lowest logit', () => {
    const d = 64;
    const k = 12;
    const x = Float32Array.from(uniformArray(d, 61), (v) => 0.5 + 0.1 * v);
    const w0 = uniformArray(d, 62);
    const W = new Float64Array(k * d);
    const c = new Float64Array(k);
    W.set(w0, 0);
    for (let j = 1; j < k; j++) {
      // u_j = w_j - w_0; class 11 has a far lower logit but a boundary 0.15 away.
      const u =
        j < k - 1
          ? uniformArray(d, 70 + j, -0.5, 0.5)
          : (() => {
              const r = uniformArray(d, 90);
              const nr = Math.sqrt(r.reduce((s, v) => s + v * v, 0));
              return r.map((v) => (20 * v) / nr);
            })();
      const gap = j < k - 1 ? 1 + 0.05 * j : 3;
      let ux = 0;
      for (let p = 0; p < d; p++) {
        W[j * d + p] = w0[p] + u[p];
        ux += u[p] * x[p];
      }
      c[j] = -ux - gap;
    }
    const m = linear(W, c, k, d);
    const z = logits(m, x, 0);
    expect(argmax(z)).toBe(0);
    const ranked = z
      .map((v, j) => [v, j])
      .sort((a, b) => b[0] - a[0])
      .map(([, j]) => j);
    expect(ranked[k - 1]).toBe(k - 1);
    const exact = exactDistance(m, x, 0, 0).distance;
    expect(exact).toBeCloseTo(0.15, 2);
    const out = deepFoolL2(m.f, x, [1, 1, 8, 8], [0]);
    expect(out.found).toEqual([true]);
    expect(argmax(logits(m, out.adv, 0))).toBe(k - 1);
    // One linearization step is exact: the distance is the boundary's, times the overshoot 1.02.
    const dist = rowDistance(out.adv, x, 0, d);
    expect(dist).toBeGreaterThanOrEqual(exact);
    expect(dist).toBeLessThanOrEqual(exact * 1.03);
  });

  it('pgd finds an adversarial exactly when the ball reaches the boundary, and otherwise returns the closest point of the ball', () => {
    const n = 10;
    const d = 64;
    const { m, x, preds, exact } = midBoxProblem(n, d, 10, 81);
    const shape: Nchw = [n, 1, 8, 8];
    for (let i = 0; i < n; i++) {
      const one = x.subarray(i * d, (i + 1) * d);
      const outside = pgdL2(m.f, one, [1, 1, 8, 8], [preds[i]], { eps: exact[i] * 1.03 });
      expect(outside.found).toEqual([true]);
      expect(argmax(logits(m, outside.adv, 0))).not.toBe(preds[i]);
      expect(rowDistance(outside.adv, one, 0, d)).toBeLessThanOrEqual(exact[i] * 1.03 + 1e-6);
    }
    const eps = Math.min(...exact) * 0.9;
    const inside = pgdL2(m.f, x, shape, preds, { eps });
    expect(inside.found.filter(Boolean).length).toBe(0);
    distances(inside.adv, x, n, d).forEach((dist) => {
      expect(dist).toBeLessThanOrEqual(eps * (1 + 1e-6));
      expect(dist).toBeGreaterThan(eps * 0.99);
    });
  });

  it("pgd's random start of an image does not depend on the batch around it", () => {
    const d = 16;
    const x = Float32Array.from(uniformArray(5 * d, 91), (v) => 0.5 + 0.4 * v);
    const whole = pgdRandomStart(x, 5, d, 0.3, [0, 1], 7);
    const tail = pgdRandomStart(x.slice(2 * d), 3, d, 0.3, [0, 1], 7);
    expect(Array.from(tail)).toEqual(Array.from(whole.subarray(2 * d)));
    expect(rowDistance(whole, x, 0, d)).toBeLessThanOrEqual(0.3 + 1e-6);
    expect(Array.from(pgdRandomStart(x, 5, d, 0.3, [0, 1], 8))).not.toEqual(Array.from(whole));
  });

  it('projectBallBox is the Euclidean projection onto the intersection of the ball and the box', () => {
    const d = 32;
    const x0 = Float32Array.from(uniformArray(d, 101), (v, p) => (p % 3 === 0 ? 0 : 0.5 + 0.5 * v));
    for (const [seed, eps] of [
      [102, 0.5],
      [103, 2],
      [104, 10],
    ] as const) {
      const v = Float64Array.from(uniformArray(d, seed, -1.5, 1.5));
      const projected = Float64Array.from(v);
      projectBallBox(projected, x0, 0, d, eps, [0, 1]);
      const norm = Math.sqrt(projected.reduce((s, t) => s + t * t, 0));
      expect(norm).toBeLessThanOrEqual(eps * (1 + 1e-12));
      projected.forEach((t, p) => {
        expect(x0[p] + t).toBeGreaterThanOrEqual(-1e-12);
        expect(x0[p] + t).toBeLessThanOrEqual(1 + 1e-12);
      });
      // No feasible point is closer: compare with random feasible points and the naive "scale then clip".
      const dist = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, t, p) => s + (t - v[p]) ** 2, 0));
      const naive = Float64Array.from(v, (t, p) => Math.min(1 - x0[p], Math.max(-x0[p], t * Math.min(1, eps / Math.sqrt(v.reduce((s, q) => s + q * q, 0))))));
      expect(dist(projected)).toBeLessThanOrEqual(dist(naive) + 1e-12);
      for (let r = 0; r < 200; r++) {
        const cand = Float64Array.from(uniformArray(d, 1000 + r), (t, p) => Math.min(1 - x0[p], Math.max(-x0[p], projected[p] + 0.05 * t)));
        const cn = Math.sqrt(cand.reduce((s, t) => s + t * t, 0));
        const feasible = cn <= eps ? cand : cand.map((t) => (t * eps) / cn);
        expect(dist(projected)).toBeLessThanOrEqual(dist(feasible) + 1e-12);
      }
    }
  });
});

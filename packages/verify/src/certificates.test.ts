import { InvalidArgumentError } from '@lip/train';
import { uniformStream } from '@lip/test-support';
import { orthonormalRows, sigmaMax } from '@lip/test-support/linalg';
import { CERTIFICATE_ROUNDING_MARGIN, binaryCertificates, certify, headAwareCertificates, multiclassCertificates, predictClasses } from './certificates';

function linearLogits(w: Float64Array, b: Float64Array, k: number, d: number, x: Float64Array): Float64Array {
  return Float64Array.from({ length: k }, (_, i) => b[i] + x.reduce((a, v, t) => a + w[i * d + t] * v, 0));
}

describe('certificates', () => {
  it('multiclass: (top1 - top2) / (sqrt(2) L) minus the rounding margin', () => {
    const logits = Float32Array.of(1, 3, 2.5, /* */ 0, 0, 0, /* */ -1, 4, 0);
    const c = multiclassCertificates(logits, 3, 2);
    const slack = (a: number, b: number): number => CERTIFICATE_ROUNDING_MARGIN * (Math.abs(a) + Math.abs(b) + 1);
    expect(c[0]).toBeCloseTo((0.5 - slack(3, 2.5)) / (Math.SQRT2 * 2), 12);
    expect(c[1]).toBe(0);
    expect(c[2]).toBeCloseTo((4 - slack(4, 0)) / (Math.SQRT2 * 2), 12);
    expect(Array.from(predictClasses(logits, 3))).toEqual([1, 0, 1]);
  });

  it('binary: |f| / L', () => {
    const c = binaryCertificates(Float32Array.of(2, -0.5, 0), 4);
    expect(c[0]).toBeCloseTo((2 - CERTIFICATE_ROUNDING_MARGIN * 3) / 4, 12);
    expect(c[1]).toBeCloseTo((0.5 - CERTIFICATE_ROUNDING_MARGIN * 1.5) / 4, 12);
    expect(c[2]).toBe(0);
    const r = certify(Float32Array.of(2, -0.5), 1, { lipschitz: 4 });
    expect(r.kind).toBe('binary');
    expect(Array.from(r.predictions)).toEqual([1, 0]);
  });

  it('head-aware equals multiclass for an orthogonal head', () => {
    const k = 4,
      d = 6;
    const w = orthonormalRows(k, d, 3);
    const r = uniformStream(9, -0.5, 0.5);
    const logits = Float32Array.from({ length: 50 * k }, () => r() * 6);
    const head = { weights: w, classes: k, dim: d, bodyLipschitz: 0.7 };
    const tight = headAwareCertificates(logits, head, 0.7);
    const standard = multiclassCertificates(logits, k, 0.7 * 1); // ||W||_2 = 1
    for (let i = 0; i < 50; i++) expect(tight[i]).toBeCloseTo(standard[i], 10);
    expect(certify(logits, k, { lipschitz: 0.7, head }).kind).toBe('head-aware');
  });

  it('head-aware is larger for a row-normalized head, and the gain is real', () => {
    // Unit rows close to each other: ||w_i - w_j|| < sqrt(2) while ||W||_2 > 1.
    const k = 3,
      d = 4;
    const w = Float64Array.of(1, 0.3, 0, 0, 0.3, 1, 0, 0.2, 0.5, 0.5, 0.7, 0);
    for (let i = 0; i < k; i++) {
      const n = Math.hypot(...w.subarray(i * d, (i + 1) * d));
      for (let t = 0; t < d; t++) w[i * d + t] /= n;
    }
    const L = sigmaMax(w, k, d);
    expect(L).toBeGreaterThan(1.2);
    const r = uniformStream(5, -0.5, 0.5);
    const logits = Float32Array.from({ length: 40 * k }, () => r() * 4);
    const head = { weights: w, classes: k, dim: d, bodyLipschitz: 1 };
    const tight = headAwareCertificates(logits, head, 1);
    const standard = multiclassCertificates(logits, k, L);
    let gains = 0;
    for (let i = 0; i < 40; i++) {
      expect(tight[i]).toBeGreaterThanOrEqual(standard[i]);
      if (standard[i] > 0 && tight[i] > standard[i] * 1.2) gains++;
    }
    expect(gains).toBeGreaterThan(30);
  });

  it('is sound: never above the exact distance to the decision boundary of a linear model', () => {
    const k = 5,
      d = 7;
    const r = uniformStream(21, -0.5, 0.5);
    const w = Float64Array.from({ length: k * d }, () => r() * 2);
    const b = Float64Array.from({ length: k }, () => r());
    const head = { weights: w, classes: k, dim: d, bodyLipschitz: 1 };
    const wNorm = sigmaMax(w, k, d);
    for (let trial = 0; trial < 200; trial++) {
      const x = Float64Array.from({ length: d }, () => r() * 3);
      const f = linearLogits(w, b, k, d, x);
      const logits = Float32Array.from(f);
      const y = predictClasses(logits, k)[0];
      // Exact distance: the nearest of the hyperplanes f_y = f_j.
      let exact = Infinity;
      let nearest = -1;
      for (let j = 0; j < k; j++) {
        if (j === y) continue;
        const diff = Array.from({ length: d }, (_, t) => w[y * d + t] - w[j * d + t]);
        const dist = (f[y] - f[j]) / Math.hypot(...diff);
        if (dist < exact) {
          exact = dist;
          nearest = j;
        }
      }
      const cert = headAwareCertificates(logits, head, 1)[0];
      expect(cert).toBeLessThanOrEqual(exact);
      expect(cert).toBeGreaterThan(exact - 1e-3);
      // A step just past the boundary towards the nearest class changes the prediction.
      const diff = Float64Array.from({ length: d }, (_, t) => w[nearest * d + t] - w[y * d + t]);
      const n = Math.hypot(...diff);
      const past = Float64Array.from(x, (v, t) => v + ((exact + 1e-6) * diff[t]) / n);
      expect(predictClasses(linearLogits(w, b, k, d, past), k)[0]).not.toBe(y);
      const std = multiclassCertificates(logits, k, wNorm)[0];
      expect(std).toBeLessThanOrEqual(exact);
    }
  });

  it('refuses bad arguments', () => {
    expect(() => multiclassCertificates(Float32Array.of(1, 2, 3), 2, 1)).toThrow(InvalidArgumentError);
    expect(() => multiclassCertificates(Float32Array.of(1, 2), 2, 0)).toThrow(/'lipschitz' must be a finite number > 0/);
  });
});

import { InvalidArgumentError } from '../errors';
import { mulberry32 } from '../random';
import { headRowDistances } from './head';
import {
  CERTIFICATE_ROUNDING_MARGIN,
  binaryCertificates,
  certifiedRobustAccuracy,
  certify,
  headAwareCertificates,
  headAwareCertificatesFromDistances,
  multiclassCertificates,
  predictClasses,
} from './logits';

const slack = (a: number, b: number): number => CERTIFICATE_ROUNDING_MARGIN * (Math.abs(a) + Math.abs(b) + 1);

describe('certificates from logits', () => {
  it("head-aware from precomputed row distances (a model's metadata) is the same float64 as from the weights", () => {
    const rand = mulberry32(11);
    const classes = 4;
    const dim = 6;
    const head = { classes, dim, weights: Float64Array.from({ length: classes * dim }, () => rand() * 2 - 1) };
    const logits = Float64Array.from({ length: 20 * classes }, () => rand() * 4 - 2);
    const fromWeights = headAwareCertificates(logits, head, 0.75);
    const fromDistances = headAwareCertificatesFromDistances(logits, classes, { rowDistances: headRowDistances(head), bodyLipschitz: 0.75 });
    expect(Array.from(fromDistances)).toEqual(Array.from(fromWeights));
    const viaCertify = certify(logits, classes, { lipschitz: 1, headDistances: { rowDistances: headRowDistances(head), bodyLipschitz: 0.75 } });
    const viaHead = certify(logits, classes, { lipschitz: 1, head: { ...head, bodyLipschitz: 0.75 } });
    expect(viaCertify.kind).toBe('head-aware');
    expect(Array.from(viaCertify.certificates)).toEqual(Array.from(viaHead.certificates));
    expect(() => headAwareCertificatesFromDistances(logits, classes, { rowDistances: new Float64Array(9), bodyLipschitz: 1 })).toThrow(
      /'rowDistances' holds 9 values, expected 4x4/,
    );
  });

  it('multiclass: (top1 - top2 - s) / (sqrt(2) L), ties give 0, first maximum predicted', () => {
    const logits = [0.1, 0.9, 0.4, /**/ 2, 2, 1, /**/ -1, -3, -2];
    const c = multiclassCertificates(logits, 3, 2);
    expect(c[0]).toBeCloseTo((0.5 - slack(0.9, 0.4)) / (Math.SQRT2 * 2), 14);
    expect(c[0]).toBeLessThan(0.5 / (Math.SQRT2 * 2));
    expect(c[1]).toBe(0);
    expect(c[2]).toBeCloseTo((1 - slack(-1, -2)) / (Math.SQRT2 * 2), 14);
    expect(Array.from(predictClasses(logits, 3))).toEqual([1, 0, 0]);
  });

  it('binary: (|f| - s) / L, class 1 when f > 0', () => {
    const c = binaryCertificates(Float32Array.from([0.5, -1.5, 0]), 0.5);
    expect(c[0]).toBeCloseTo((0.5 - slack(0.5, 0)) / 0.5, 14);
    expect(c[1]).toBeCloseTo((1.5 - slack(1.5, 0)) / 0.5, 14);
    expect(c[2]).toBe(0);
    expect(Array.from(predictClasses([0.5, -1.5, 0], 1))).toEqual([1, 0, 0]);
  });

  it('on the identity map (1-Lipschitz) the radius is the exact flip distance less only the allowance', () => {
    const rand = mulberry32(3);
    for (let trial = 0; trial < 50; trial++) {
      const x = Array.from({ length: 5 }, () => rand() * 2 - 1);
      const order = x.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
      const [i1, i2] = [order[0][1], order[1][1]];
      const exact = (x[i1] - x[i2]) / Math.SQRT2;
      const radius = multiclassCertificates(x, 5, 1)[0];
      expect(radius).toBeLessThanOrEqual(exact);
      expect(radius).toBeGreaterThanOrEqual(exact - slack(x[i1], x[i2]) / Math.SQRT2 - 1e-15);
      // Move along (e_i2 - e_i1) / sqrt(2), the steepest direction for the margin.
      const moved = (delta: number): number[] => x.map((v, i) => v + (i === i2 ? 1 : i === i1 ? -1 : 0) * (delta / Math.SQRT2));
      expect(predictClasses(moved(radius), 5)[0]).toBe(i1);
      expect(predictClasses(moved(exact * 1.001), 5)[0]).toBe(i2);
    }
  });

  it('certify: binary for one logit, multiclass, head-aware with a head of as many classes', () => {
    expect(certify([2, -0.5], 1, { lipschitz: 4 }).kind).toBe('binary');
    expect(certify([1, 2], 2, { lipschitz: 1 }).kind).toBe('multiclass');
    // Rows 0.63 apart: the head-aware radius is the larger one, and certify keeps it.
    const head = { classes: 2, dim: 2, weights: Float64Array.of(1, 0, 0.8, 0.6), bodyLipschitz: 1 };
    const r = certify([1, 2], 2, { lipschitz: 1, head });
    expect(r.kind).toBe('head-aware');
    expect(r.certificates[0]).toBe(headAwareCertificates([1, 2], head, 1)[0]);
    expect(r.certificates[0]).toBeGreaterThan(multiclassCertificates([1, 2], 2, 1)[0] * 2);
    expect(certify([1, 2], 2, { lipschitz: 1, head: { ...head, classes: 3, weights: new Float64Array(6) } }).kind).toBe('multiclass');
  });

  it('certify (one pass over the rows) gives, bit for bit, the predictions and the max of the per-kind certificates, and the multiclass ones', () => {
    const rand = mulberry32(5);
    const classes = 10;
    const head = { classes, dim: 16, weights: Float64Array.from({ length: classes * 16 }, () => rand() * 2 - 1), bodyLipschitz: 0.9 };
    // Rounded to 1/8 so that ties (certificate 0) and duplicate rows come up; float32, as onnxruntime returns them.
    const logits = Float32Array.from({ length: 500 * classes }, () => Math.round((rand() * 6 - 3) * 8) / 8);
    const r = certify(logits, classes, { lipschitz: 1.25, head });
    const multi = multiclassCertificates(logits, classes, 1.25);
    const aware = headAwareCertificates(logits, head, 0.9);
    expect(Array.from(r.predictions)).toEqual(Array.from(predictClasses(logits, classes)));
    expect(Array.from(r.multiclass!)).toEqual(Array.from(multi));
    expect(Array.from(r.certificates)).toEqual(Array.from(multi, (m, i) => Math.max(m, aware[i])));
    expect(multi.some((c) => c === 0)).toBe(true);
    expect(certify(logits, classes, { lipschitz: 1.25 }).multiclass).toBeUndefined();
  });

  it('certified robust accuracy counts correct AND certificate > eps; NaN without samples', () => {
    const certs = [0.5, 0, 0.7, 0.2];
    const correct = [true, true, false, 1];
    expect(certifiedRobustAccuracy(correct, certs, [0, 0.1, 0.5, 0.6])).toEqual([0.5, 0.5, 0, 0]);
    expect(certifiedRobustAccuracy([], [], [0, 1])).toEqual([NaN, NaN]);
  });

  it('rejects bad arguments with InvalidArgumentError naming the function and the parameter', () => {
    expect(() => multiclassCertificates([1, 2, 3], 2, 1)).toThrow(InvalidArgumentError);
    expect(() => multiclassCertificates([1, 2, 3], 2, 1)).toThrow("multiclassCertificates: 'logits' holds 3 values, not a multiple of 'classes' 2");
    expect(() => multiclassCertificates([1, 2], 2, 0)).toThrow("multiclassCertificates: 'lipschitz' must be a finite number > 0, got 0");
    expect(() => multiclassCertificates([1, 2], 1, 1)).toThrow("multiclassCertificates: 'classes' must be >= 2");
    expect(() => predictClasses([1, 2], 0)).toThrow("predictClasses: 'classes' must be an integer >= 1, got 0");
    expect(() => binaryCertificates([1], NaN)).toThrow("binaryCertificates: 'lipschitz' must be a finite number > 0, got NaN");
    const head = { classes: 2, dim: 2, weights: new Float64Array(3) };
    expect(() => headAwareCertificates([1, 2], head, 1)).toThrow("headAwareCertificates: 'head.weights' holds 3 values, expected 2x2");
    expect(() => headAwareCertificates([1, 2], { ...head, weights: new Float64Array(4) }, -1)).toThrow(
      "headAwareCertificates: 'bodyLipschitz' must be a finite number > 0, got -1",
    );
    expect(() => certifiedRobustAccuracy([true], [0.1], [-1])).toThrow("certifiedRobustAccuracy: 'eps' must be an array of finite numbers >= 0, got [-1]");
    expect(() => certifiedRobustAccuracy([true, false], [0.1], [0])).toThrow("certifiedRobustAccuracy: 'correct' has 2 values for 1 certificates");
  });
});

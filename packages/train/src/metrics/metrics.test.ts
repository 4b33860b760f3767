import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { CERTIFICATE_ROUNDING_MARGIN, certifiedRobustAccuracy, multiclassCertificates, predictClasses } from '@lip/core';
import { mulberry32, uniformArray } from '@lip/test-support';
import { InvalidArgumentError } from '../errors';
import { accuracy, certificates, certifiedRobustAccuracyFromTensors, krMulticlass } from './index';
import { krMulticlass as krLoss } from '../losses';

function randomLabels(n: number, k: number, seed: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(rand() * k));
}

describe.each(['cpu', 'wasm'])('tensor metrics on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  it('accuracy: multiclass argmax and binary signs (labels +-1 or 0/1)', () => {
    const logits = uniformArray(64 * 10, 1);
    const labels = randomLabels(64, 10, 2);
    const predicted = predictClasses(logits, 10);
    const expected = labels.filter((l, i) => l === predicted[i]).length / 64;
    expect(expected).toBeGreaterThan(0);
    tf.tidy(() => {
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
      expect(accuracy(y, tf.tensor2d(logits, [64, 10])).dataSync()[0]).toBeCloseTo(expected, 6);
      const f = tf.tensor2d([[0.5], [-0.2], [-0.1], [0.3]]);
      expect(accuracy(tf.tensor2d([[1], [-1], [1], [-1]]), f).dataSync()[0]).toBeCloseTo(0.5, 6);
      expect(accuracy(tf.tensor2d([[1], [0], [1], [0]]), f).dataSync()[0]).toBeCloseTo(0.5, 6);
    });
  });

  it("certificates are lip verify's (@lip/core, with the rounding allowance), rounded down to float32", () => {
    const n = 200;
    const k = 10;
    const logits = uniformArray(n * k, 5);
    const lip = 1.7;
    tf.tidy(() => {
      const ours = certificates(tf.tensor2d(logits, [n, k]), lip).dataSync();
      const reference = multiclassCertificates(logits, k, lip);
      for (let i = 0; i < n; i++) {
        expect(ours[i]).toBeLessThanOrEqual(reference[i]);
        expect(ours[i]).toBeGreaterThanOrEqual(reference[i] * (1 - 2 ** -23));
      }
    });
    // Margin 0.5 between the top two logits: the allowance s = 1e-5 (|3| + |2.5| + 1) comes off it.
    const slack = CERTIFICATE_ROUNDING_MARGIN * (3 + 2.5 + 1);
    tf.tidy(() => {
      const radius = certificates(tf.tensor2d([[1, 3, 2.5]]), 2).dataSync()[0];
      expect(radius).toBeCloseTo((0.5 - slack) / (Math.SQRT2 * 2), 7);
      expect(radius).toBeLessThan((0.5 - slack / 2) / (Math.SQRT2 * 2));
    });
  });

  it('certified robust accuracy counts correct AND certificate > eps, as @lip/core does on the same logits', () => {
    const n = 200;
    const k = 10;
    const logits = uniformArray(n * k, 5);
    const labels = randomLabels(n, k, 6);
    const eps = [0, 0.02, 0.05, 0.1, 0.2];
    const lip = 1.7;
    const predicted = predictClasses(logits, k);
    const expected = certifiedRobustAccuracy(
      labels.map((l, i) => l === predicted[i]),
      multiclassCertificates(logits, k, lip),
      eps,
    );
    tf.tidy(() => {
      const cra = certifiedRobustAccuracyFromTensors(tf.oneHot(tf.tensor1d(labels, 'int32'), k), tf.tensor2d(logits, [n, k]), eps, lip);
      expect(cra[0]).toBeGreaterThan(cra[4]);
      expect(cra).toEqual(expected);
    });
  });

  it('binary certificates are (|f| - s) / L; labels +-1 or 0/1', () => {
    tf.tidy(() => {
      const f = tf.tensor2d([[0.5], [-1.5], [0]]);
      const radii = Array.from(certificates(f, 0.5).dataSync());
      expect(radii[0]).toBeCloseTo((0.5 - CERTIFICATE_ROUNDING_MARGIN * 1.5) / 0.5, 6);
      expect(radii[1]).toBeCloseTo((1.5 - CERTIFICATE_ROUNDING_MARGIN * 2.5) / 0.5, 6);
      expect(radii[2]).toBe(0);
      expect(certifiedRobustAccuracyFromTensors(tf.tensor2d([[1], [-1], [1]]), f, [0, 2], 0.5)).toEqual([2 / 3, 1 / 3]);
      expect(certifiedRobustAccuracyFromTensors(tf.tensor1d([1, 0, 1]), f, [0, 2], 0.5)).toEqual([2 / 3, 1 / 3]);
    });
  });

  it('rejects bad arguments with InvalidArgumentError naming the function and the parameter', () => {
    tf.tidy(() => {
      const f = tf.tensor2d([[1, 2]]);
      expect(() => certificates(f, 0)).toThrow(InvalidArgumentError);
      expect(() => certificates(f, 0)).toThrow("certificates: 'lipschitz' must be a finite number > 0, got 0");
      expect(() => certificates(tf.tensor3d([[[1, 2]]]))).toThrow("certificates: 'yPred' must be [batch, classes] or [batch, 1], got [1, 1, 2]");
      expect(() => certifiedRobustAccuracyFromTensors(tf.tensor2d([[0, 1]]), f, [-1])).toThrow(
        "certifiedRobustAccuracyFromTensors: 'eps' must be an array of finite numbers >= 0, got [-1]",
      );
      expect(() => certifiedRobustAccuracyFromTensors(tf.tensor1d([1]), f, [0])).toThrow("'yTrue' [1] and 'yPred' [1, 2] must have the same size");
    });
  });

  it('re-exports the KR loss term as a metric', () => {
    expect(krMulticlass).toBe(krLoss);
  });
});

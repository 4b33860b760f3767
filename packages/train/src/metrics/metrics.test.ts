import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { InvalidArgumentError } from '../errors';
import { accuracy, certificates, certifiedRobustAccuracy, krMulticlass } from './index';
import {
  certificatesFromLogits,
  certifiedRobustAccuracyFromLogits,
  predictedClassesFromLogits,
} from './certificates_array';
import { krMulticlass as krLoss } from '../losses';
import { mulberry32, uniformArray } from '../testing/support';

function randomLabels(n: number, k: number, seed: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(rand() * k));
}

describe('plain-array certificates', () => {
  it('multiclass: (top1 - top2) / (sqrt(2) L), ties give 0', () => {
    const logits = [0.1, 0.9, 0.4, /**/ 2, 2, 1, /**/ -1, -3, -2];
    const c = certificatesFromLogits(logits, 3, 2);
    expect(c[0]).toBeCloseTo(0.5 / (Math.SQRT2 * 2), 14);
    expect(c[1]).toBe(0);
    expect(c[2]).toBeCloseTo(1 / (Math.SQRT2 * 2), 14);
    expect(Array.from(predictedClassesFromLogits(logits, 3))).toEqual([1, 0, 0]);
  });

  it('binary: |f| / L', () => {
    const c = certificatesFromLogits(Float32Array.from([0.5, -1.5, 0]), 1, 0.5);
    expect(Array.from(c)).toEqual([1, 3, 0]);
    expect(Array.from(predictedClassesFromLogits([0.5, -1.5, 0], 1))).toEqual([1, 0, 0]);
  });

  it('is tight for the identity map (1-Lipschitz): the worst perturbation flips exactly at the radius', () => {
    const rand = mulberry32(3);
    for (let trial = 0; trial < 50; trial++) {
      const x = Array.from({ length: 5 }, () => rand() * 2 - 1);
      const order = x.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
      const [i1, i2] = [order[0][1], order[1][1]];
      const radius = certificatesFromLogits(x, 5, 1)[0];
      // Move along (e_i2 - e_i1) / sqrt(2), the steepest direction for the margin.
      const moved = (delta: number) => x.map((v, i) => v + (i === i2 ? 1 : i === i1 ? -1 : 0) * (delta / Math.SQRT2));
      expect(predictedClassesFromLogits(moved(radius * 0.999), 5)[0]).toBe(i1);
      expect(predictedClassesFromLogits(moved(radius * 1.001), 5)[0]).toBe(i2);
    }
  });

  it('certified robust accuracy counts correct AND certificate > eps', () => {
    // certificates with L = 1: [0.5/sqrt2, 0, 1/sqrt2, 0.2/sqrt2]; predictions [1, 0, 0, 2]
    const logits = [0.1, 0.9, 0.4, /**/ 2, 2, 1, /**/ -1, -3, -2, /**/ 0, 0.1, 0.3];
    const labels = [1, 0, 2, 2];
    const eps = [0, 0.1, 0.5 / Math.SQRT2, 0.6];
    // correct: samples 0, 1, 3; sample 1 has certificate 0 (never > eps).
    expect(certifiedRobustAccuracyFromLogits(labels, logits, 3, eps)).toEqual([0.5, 0.5, 0, 0]);
    expect(certifiedRobustAccuracyFromLogits(labels, logits, 3, [0.1], 0.1)).toEqual([0.5]);
    // Binary labels as 0/1 or -1/+1.
    expect(certifiedRobustAccuracyFromLogits([1, 0, 1], [0.5, -0.2, -0.1], 1, [0, 0.3])).toEqual([2 / 3, 1 / 3]);
    expect(certifiedRobustAccuracyFromLogits([1, -1, 1], [0.5, -0.2, -0.1], 1, [0, 0.3])).toEqual([2 / 3, 1 / 3]);
  });

  it('rejects bad arguments with InvalidArgumentError naming the parameter', () => {
    expect(() => certificatesFromLogits([1, 2, 3], 2)).toThrow(InvalidArgumentError);
    expect(() => certificatesFromLogits([1, 2, 3], 2)).toThrow(
      "certificatesFromLogits: 'logits' has 3 values, not a multiple of 'numClasses' 2",
    );
    expect(() => certificatesFromLogits([1, 2], 2, 0)).toThrow("'lipschitz' must be a finite number > 0, got 0");
    expect(() => certifiedRobustAccuracyFromLogits([0], [1, 2], 2, [-1])).toThrow(
      "'eps' must be an array of finite numbers >= 0, got [-1]",
    );
    expect(() => certifiedRobustAccuracyFromLogits([0, 1], [1, 2], 2, [0])).toThrow("'labels' has 2 values for 1 samples");
  });
});

describe.each(['cpu', 'wasm'])('tensor metrics on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  it('accuracy: multiclass argmax and binary signs (labels +-1 or 0/1)', () => {
    const logits = uniformArray(64 * 10, 1);
    const labels = randomLabels(64, 10, 2);
    const predicted = predictedClassesFromLogits(logits, 10);
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

  it('certificates and certified robust accuracy match the plain-array versions', () => {
    const n = 200;
    const k = 10;
    const logits = uniformArray(n * k, 5);
    const labels = randomLabels(n, k, 6);
    const eps = [0, 0.02, 0.05, 0.1, 0.2];
    const lip = 1.7;
    tf.tidy(() => {
      const f = tf.tensor2d(logits, [n, k]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), k);
      const ours = certificates(f, lip).dataSync();
      const reference = certificatesFromLogits(logits, k, lip);
      for (let i = 0; i < n; i++) expect(Math.abs(ours[i] - reference[i])).toBeLessThan(1e-6);
      const cra = certifiedRobustAccuracy(y, f, eps, lip);
      expect(cra[0]).toBeGreaterThan(cra[4]);
      expect(cra).toEqual(certifiedRobustAccuracyFromLogits(labels, logits, k, eps, lip));
    });
  });

  it('binary certificates are |f| / L', () => {
    tf.tidy(() => {
      const f = tf.tensor2d([[0.5], [-1.5], [0]]);
      expect(Array.from(certificates(f, 0.5).dataSync())).toEqual([1, 3, 0]);
      expect(certifiedRobustAccuracy(tf.tensor2d([[1], [-1], [1]]), f, [0, 2], 0.5)).toEqual([2 / 3, 1 / 3]);
    });
  });

  it('re-exports the KR loss term as a metric', () => {
    expect(krMulticlass).toBe(krLoss);
  });
});

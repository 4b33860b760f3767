/**
 * A classifier ending in FrobeniusDense({ disjointNeurons: true }): every
 * output neuron has norm 1 but the head as a whole is sqrt(classes)-Lipschitz.
 * `lip verify` (verifyModel) and @lip/runtime must certify it with the
 * head-aware formula min_j (f_y - f_j) / (||w_y - w_j|| L_body), from the
 * exact row distances of the exported Gemm, never with more, and never with the
 * global L times sqrt(2); `lip bound` of the file must stay above the
 * network's measured Jacobian norms; attacks find nothing inside a certificate.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl } from '@tensorflow/tfjs-layers';
import { exportOnnx } from '@lip/export';
import { CertifiedClassifier } from '@lip/runtime';
import * as L from '@lip/train';
import { chooseLipschitz, lipschitzBound, openSession, readOnnxModel, verifyModel } from '@lip/verify';
import { chosenCertificate, runAttack, VIOLATION_TOLERANCE } from '@lip/verify/attacks';
import { seededBytes, tmpDirPerSuite } from '@lip/test-support';
import { writeIdxSplit } from '@lip/test-support/data';
import { jacobianNorms } from '@lip/test-support/measure';
import { QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';

const CLASSES = 6;
const N = 40;
const H = 8;
const tmp = tmpDirPerSuite('disjoint-head');

let model: L.LipschitzSequential;
let bytes: Uint8Array;
let dataDir: string;
let images: Float32Array;
const stats: Record<string, number> = {};

beforeAll(async () => {
  await tf.setBackend('cpu');
  model = new L.LipschitzSequential({
    layers: [
      tfl.inputLayer({ inputShape: [H, H, 1] }),
      new L.SpectralConv2D({ filters: 4, kernelSize: 3, seed: 1 }),
      new L.GroupSort2(),
      tfl.flatten(),
      new L.SpectralDense({ units: 16, seed: 2 }),
      new L.GroupSort2(),
      new L.FrobeniusDense({ units: CLASSES, disjointNeurons: true, seed: 3 }),
    ],
    kCoefLip: 2,
    logger: QUIET_LOGGER,
  });
  randomizeWeights(model, 5, 1, 0.05);
  bytes = exportOnnx(model);
  dataDir = tmp.path('data');
  const pixels = seededBytes(N * H * H, 17);
  writeIdxSplit(dataDir, { n: N, h: H, w: H, images: pixels, labels: Uint8Array.from({ length: N }, (_, i) => i % CLASSES) });
  images = Float32Array.from(pixels, (p) => p / 255);
});

afterAll(() => {
  model.dispose();
  process.stdout.write(`disjoint head: ${JSON.stringify(stats)}\n`);
});

/** The head-aware radius of each image in float64 with the exact row distances of the file's head, no rounding allowance. */
function exactHeadAware(logits: Float32Array, weights: Float64Array, dim: number, bodyLipschitz: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < logits.length / CLASSES; i++) {
    const f = logits.subarray(i * CLASSES, (i + 1) * CLASSES);
    let y = 0;
    for (let j = 1; j < CLASSES; j++) if (f[j] > f[y]) y = j;
    let r = Infinity;
    for (let j = 0; j < CLASSES; j++) {
      if (j === y) continue;
      let s = 0;
      for (let k = 0; k < dim; k++) s += (weights[y * dim + k] - weights[j * dim + k]) ** 2;
      r = Math.min(r, (f[y] - f[j]) / (Math.sqrt(s) * bodyLipschitz));
    }
    out.push(r);
  }
  return out;
}

test('the file claims L_body sqrt(classes) and carries the head: lip bound stays between the measured Jacobian norms and the claim', () => {
  const bound = lipschitzBound(bytes);
  const claimed = Number(readOnnxModel(bytes).metadata.lipschitz_constant);
  // kCoefLip 2 over three linear layers: each gets 2^(1/3); the body is two of them.
  const share = Math.cbrt(2);
  expect(claimed).toBeCloseTo(share * share * share * Math.sqrt(CLASSES), 9);
  expect(bound.total).toBeLessThanOrEqual(claimed);
  expect(bound.head).not.toBeNull();
  expect(bound.head!.classes).toBe(CLASSES);
  expect(bound.head!.bodyLipschitz).toBeLessThanOrEqual(share * share * (1 + 1e-6));
  // Measured: the Jacobian norm of the network the file holds (the converged twin) at random inputs
  // (1 channel: NHWC and NCHW hold the same bytes).
  const twin = model.vanillaExport({ converge: true });
  const f = (x: tf.Tensor4D): tf.Tensor2D => twin.apply(tf.reshape(x, [-1, H, H, 1])) as tf.Tensor2D;
  const points = Float32Array.from({ length: 10 * H * H }, (_, i) => Math.sin(i * 12.9898) * 0.5 + 0.5);
  const { norms } = jacobianNorms(f, points, 10, [1, H, H], CLASSES);
  const measured = Math.max(...norms);
  Object.assign(stats, { claimed, bound: bound.total, bodyBound: bound.head!.bodyLipschitz, measuredJacobian: measured });
  expect(measured).toBeGreaterThan(0.2 * bound.total); // not vacuous
  expect(bound.total).toBeGreaterThanOrEqual(measured * (1 - 1e-5));
  twin.dispose();
});

test('lip verify certifies with the head-aware formula: never above the exact radius from the row distances, close to it', async () => {
  const res = await verifyModel(bytes, { data: dataDir, eps: [0, 0.05], batchSize: 16 });
  expect(res.certificateKind).toBe('head-aware');
  const bound = lipschitzBound(bytes);
  const body = res.headBodyLipschitz!;
  expect(body).toBeGreaterThanOrEqual(bound.head!.bodyLipschitz);
  const session = await openSession(readOnnxModel(bytes));
  const logits = await session.runBatched(images, N, [1, H, H]);
  await session.close();
  const exact = exactHeadAware(logits, bound.head!.weights, bound.head!.dim, body);
  const certs = res.details.certificates!;
  let headAwareWins = 0;
  for (let i = 0; i < N; i++) {
    expect(certs[i]).toBeLessThanOrEqual(exact[i]);
    expect(certs[i]).toBeGreaterThanOrEqual(exact[i] - 1e-4);
    // The global claim's multiclass radius: (top1 - top2) / (sqrt(2) L) with L = L_body sqrt(classes).
    const row = Array.from(logits.subarray(i * CLASSES, (i + 1) * CLASSES)).sort((a, b) => b - a);
    const multiclass = (row[0] - row[1]) / (Math.SQRT2 * res.lipschitzUsed!);
    if (certs[i] > multiclass * 1.2) headAwareWins++;
  }
  Object.assign(stats, { meanCertificate: res.meanCertificate!, meanMulticlass: res.meanCertificateMulticlass!, headAwareWins });
  expect(headAwareWins).toBeGreaterThan(N / 2);
  expect(res.meanCertificate!).toBeGreaterThan(1.2 * res.meanCertificateMulticlass!);
});

test('@lip/runtime (checkBound) gives the same radii as lip verify', async () => {
  const clf = await CertifiedClassifier.load(bytes, { checkBound: true });
  const res = await verifyModel(bytes, { data: dataDir, batchSize: 16 });
  const out = await clf.classify(images);
  out.forEach((c, i) => {
    expect(c.label).toBe(res.details.predictions[i]);
    expect(c.certifiedRadius).toBeCloseTo(res.details.certificates![i], 10);
  });
  await clf.dispose();
});

test('attacks find no adversarial closer than a head-aware certificate', async () => {
  const m = readOnnxModel(bytes);
  const session = await openSession(m);
  const chw = [1, H, H];
  const labels = new Array<number>(N).fill(0);
  const indices = Array.from({ length: 12 }, (_, i) => i);
  const certificate = chosenCertificate(m, chooseLipschitz(m));
  try {
    for (const attack of ['deepfool', 'fmn'] as const) {
      const r = await runAttack(m, session, images.subarray(0, 12 * H * H), labels.slice(0, 12), indices, chw, { attack, steps: 30, seed: 3, certificate });
      expect(r.violations).toBe(0);
      for (const x of r.results) if (x.distance !== null) expect(x.distance).toBeGreaterThanOrEqual(x.certificate - VIOLATION_TOLERANCE);
    }
  } finally {
    await session.close();
  }
});

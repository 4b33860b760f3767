/**
 * Train a small 1-Lipschitz CNN with tfjs' own `model.fit` on your own tensors,
 * then save it as a tfjs checkpoint (`model.json` + `weights.bin`).
 *
 * Shows: @lip/train's layers (`lipLayers`), the HKR loss (`makeLoss`), deel-lip's
 * callbacks (`MonitorCallback`, `CondenseCallback`), and `@lip/train/node` for
 * files (`model.save('file://…')`, `writeIdx`). The data is made up here: 8×8
 * grayscale images of a horizontal, a vertical or a diagonal line on noise, so
 * the script runs in seconds and needs no download.
 *
 * Run (in a project with this folder's package.json installed):
 *   npx tsc && node build/train-own-tensors.js [OUT_DIR]      # default OUT_DIR: lip-example
 * Writes OUT_DIR/checkpoint/{model.json,weights.bin} and the held-out images
 * OUT_DIR/test-images-idx3-ubyte + OUT_DIR/test-labels-idx1-ubyte (read by export, verify and
 * classify). Exits 1 when the model is not 1-Lipschitz or learns nothing.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { layers } from '@tensorflow/tfjs-layers';
import { CondenseCallback, LipschitzSequential, MonitorCallback, lipLayers, makeLoss, selectBackend } from '@lip/train';
import { writeIdx } from '@lip/train/node';

const OUT_DIR = process.argv[2] ?? 'lip-example';
const SIZE = 8;
const CLASS_NAMES = ['horizontal', 'vertical', 'diagonal'];

/** A seeded generator (mulberry32), so every run trains on the same images. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` 8-bit images [n, 8, 8] of a line at a random place on noise, and their labels. */
function makeImages(n: number, seed: number): { pixels: Uint8Array; labels: Uint8Array } {
  const random = rng(seed);
  const pixels = new Uint8Array(n * SIZE * SIZE);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % CLASS_NAMES.length;
    const at = 1 + Math.floor(random() * (SIZE - 2));
    const image = pixels.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE);
    for (let p = 0; p < image.length; p++) image[p] = Math.floor(random() * 60);
    for (let k = 0; k < SIZE; k++) {
      const [row, col] = label === 0 ? [at, k] : label === 1 ? [k, at] : [k, (k + at) % SIZE];
      image[row * SIZE + col] = 170 + Math.floor(random() * 60);
    }
    labels[i] = label;
  }
  return { pixels, labels };
}

/** Images as a float tensor [n, 8, 8, 1] in [0, 1] (the range the exported model declares). */
function toTensor(pixels: Uint8Array): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.tensor4d(pixels, [pixels.length / (SIZE * SIZE), SIZE, SIZE, 1], 'int32'), 255));
}

const backend = await selectBackend('auto'); // tfjs-node when installed, else wasm, else cpu
console.log(`backend: ${backend.description}`);

const train = makeImages(600, 1);
const test = makeImages(150, 2);
const x = toTensor(train.pixels);
const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), CLASS_NAMES.length);

const model = new LipschitzSequential({
  layers: [
    lipLayers.spectralConv2d({ filters: 8, kernelSize: 3, inputShape: [SIZE, SIZE, 1] }),
    lipLayers.groupSort2(),
    lipLayers.scaledL2NormPool2d({ poolSize: 2 }),
    layers.flatten(),
    lipLayers.spectralDense({ units: 32 }),
    lipLayers.groupSort2(),
    lipLayers.spectralDense({ units: CLASS_NAMES.length, useBias: false }),
  ],
});
model.compile({ optimizer: tf.train.adam(1e-2), loss: makeLoss('hkr', { alpha: 20, minMargin: 0.5 }) });
const monitor = new MonitorCallback({ log: null }); // each layer's σmax and certified bound, per epoch
const history = await model.fit(x, y, {
  epochs: 12,
  batchSize: 32,
  shuffle: true,
  callbacks: [monitor, new CondenseCallback()],
});
const losses = history.history.loss as number[];
console.log(`loss: epoch 1 ${losses[0].toFixed(3)}, epoch ${losses.length} ${losses[losses.length - 1].toFixed(3)}`);

// Held-out accuracy, and the certified radius (top1 - top2) / √2 of each image (the network is 1-Lipschitz).
const xTest = toTensor(test.pixels);
const logits = model.predict(xTest) as tf.Tensor2D;
const predicted = await tf.argMax(logits, 1).data();
let hits = 0;
for (let i = 0; i < test.labels.length; i++) if (predicted[i] === test.labels[i]) hits++;
const accuracy = hits / test.labels.length;
const top2 = await tf.topk(logits, 2).values.data(); // [n, 2] row-major
let radiusSum = 0;
for (let i = 0; i < test.labels.length; i++) radiusSum += (top2[2 * i] - top2[2 * i + 1]) / Math.SQRT2;
const meanRadius = radiusSum / test.labels.length;
console.log(`held-out accuracy ${accuracy.toFixed(3)} (chance ${(1 / CLASS_NAMES.length).toFixed(3)}), mean certified radius ${meanRadius.toFixed(3)}`);

// The last epoch's certified bound of every dense/conv layer: each must be at most 1 (up to the training-time normalization).
const bounds = monitor.history[monitor.history.length - 1].layers.map((l) => ({ name: l.name, bound: l.bound ?? Infinity }));
for (const { name, bound } of bounds) console.log(`  ${name}: Lipschitz bound ${bound.toFixed(4)}`);

await model.save(`file://${path.resolve(OUT_DIR, 'checkpoint')}`);
writeIdx(path.join(OUT_DIR, 'test-images-idx3-ubyte'), [test.labels.length, SIZE, SIZE], test.pixels);
writeIdx(path.join(OUT_DIR, 'test-labels-idx1-ubyte'), [test.labels.length], test.labels);
console.log(`wrote ${OUT_DIR}/checkpoint/model.json, ${OUT_DIR}/test-images-idx3-ubyte, ${OUT_DIR}/test-labels-idx1-ubyte`);

const failures = [
  ...(accuracy < 0.9 ? [`held-out accuracy ${accuracy} is below 0.9`] : []),
  ...(meanRadius <= 0 ? [`the mean certified radius ${meanRadius} is not positive`] : []),
  ...bounds.filter((b) => !(b.bound <= 1.01)).map((b) => `layer ${b.name} has Lipschitz bound ${b.bound} > 1.01`),
];
if (failures.length > 0) {
  console.error(`FAILED: ${failures.join('; ')}`);
  process.exit(1);
}

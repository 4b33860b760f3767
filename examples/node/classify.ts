/**
 * Classify images with @lip/runtime's `CertifiedClassifier`: each prediction
 * comes with its certified L2 radius r (no input closer than r can change the
 * predicted class), computed from the ONNX file's metadata as `lip verify` does.
 * @lip/runtime loads no TensorFlow.js; it runs on onnxruntime-node when that is
 * installed, else on onnxruntime-web (as here).
 *
 * Run after train-own-tensors and export:
 *   npx tsc && node build/classify.js [OUT_DIR]      # default OUT_DIR: lip-example
 * Reads OUT_DIR/model.onnx and OUT_DIR/test-{images-idx3,labels-idx1}-ubyte. Exits 1 when
 * accuracy is not above chance, or when an image moved by less than its radius
 * changes class (the certificate would be wrong).
 */
import * as path from 'node:path';
import { readIdx } from '@lip/core';
import { CertifiedClassifier } from '@lip/runtime';

const OUT_DIR = process.argv[2] ?? 'lip-example';
const images = readIdx(path.join(OUT_DIR, 'test-images-idx3-ubyte'));
const labels = readIdx(path.join(OUT_DIR, 'test-labels-idx1-ubyte')).data;
const [n, height, width] = images.shape;
const size = height * width;
// The model reads NCHW floats in its input_range [0, 1]: one channel, pixels / 255.
const pixels = Float32Array.from(images.data, (v) => v / 255);

// checkBound: recompute the sound bound from the weights (@lip/verify) and refuse a file that claims less.
const classifier = await CertifiedClassifier.load(path.join(OUT_DIR, 'model.onnx'), { checkBound: true });
console.log(
  `engine ${classifier.engine}, input [${classifier.inputShape.join(', ')}], classes ${classifier.classNames.join(', ')}, ` +
    `L = ${classifier.contract.lipschitz} (bound from the weights: ${classifier.boundCheck?.total})`,
);

const [first] = await classifier.classify(pixels.subarray(0, size));
console.log(`image 0 (label ${classifier.classNames[labels[0]]}): ${first.className}, certified radius ${first.certifiedRadius.toFixed(4)}`);

const results = await classifier.classify(pixels);
const accuracy = results.filter((r, i) => r.label === labels[i]).length / n;
const chance = 1 / classifier.classNames.length;
console.log(
  `accuracy ${accuracy.toFixed(3)} on ${n} images (chance ${chance.toFixed(3)}), ` +
    `mean certified radius ${(results.reduce((s, r) => s + r.certifiedRadius, 0) / n).toFixed(4)}`,
);

// The guarantee, checked: move each of the first 20 images by 0.99 r in 8 random directions and toward
// the first image of another predicted class; none may change class.
let seed = 7;
const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296 - 0.5;
let moved = 0;
const broken: string[] = [];
for (let i = 0; i < 20; i++) {
  const r = results[i].certifiedRadius;
  if (r === 0) continue;
  const x = pixels.subarray(i * size, (i + 1) * size);
  const directions = Array.from({ length: 8 }, () => Float32Array.from(x, () => random()));
  const other = results.findIndex((o) => o.label !== results[i].label);
  if (other >= 0) directions.push(Float32Array.from(x, (v, p) => pixels[other * size + p] - v));
  const batch = directions.map((d) => {
    const norm = Math.hypot(...d);
    return Float32Array.from(x, (v, p) => v + (0.99 * r * d[p]) / norm);
  });
  for (const [k, out] of (await classifier.classify(batch)).entries()) {
    moved++;
    if (out.label !== results[i].label) broken.push(`image ${i} direction ${k}: ${results[i].className} -> ${out.className} within r = ${r}`);
  }
}
console.log(`${moved} inputs moved by 0.99 r: ${broken.length} changed class`);
await classifier.dispose();

const failures = [
  ...(accuracy > chance + 0.3 ? [] : [`accuracy ${accuracy} is not well above chance ${chance}`]),
  ...(moved > 0 ? [] : ['no image had a positive certified radius']),
  ...broken,
];
if (failures.length > 0) {
  console.error(`FAILED: ${failures.join('; ')}`);
  process.exit(1);
}

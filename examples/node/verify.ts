/**
 * Verify an exported ONNX classifier with @lip/verify: a sound Lipschitz bound
 * from the weights alone (what `lip bound` prints), accuracy, certificates and
 * certified robust accuracy on labelled images (what `lip verify` prints), and
 * an attack that checks no adversarial example is closer than its certificate
 * (what `lip attack` does).
 *
 * Run after train-own-tensors and export:
 *   npx tsc && node build/verify.js [OUT_DIR]      # default OUT_DIR: lip-example
 * Reads OUT_DIR/model.onnx and OUT_DIR/test-{images-idx3,labels-idx1}-ubyte. Exits 1 when the
 * file claims a Lipschitz constant below its bound, when accuracy is not above
 * chance, or when the attack finds an adversarial closer than its certificate.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { lipschitzBound, openSession, readOnnxModel, verifyModel } from '@lip/verify';
import { runAttack } from '@lip/verify/attacks';
import { readIdx } from '@lip/core';

const OUT_DIR = process.argv[2] ?? 'lip-example';
const modelFile = path.join(OUT_DIR, 'model.onnx');
const imagesFile = path.join(OUT_DIR, 'test-images-idx3-ubyte');
const labelsFile = path.join(OUT_DIR, 'test-labels-idx1-ubyte');
const failures: string[] = [];

// `lip bound`: a certified upper bound on the L2 Lipschitz constant, layer by layer.
const bound = lipschitzBound(modelFile);
for (const layer of bound.layers) {
  console.log(`  ${layer.node.padEnd(28)} ${layer.op.padEnd(12)} factor ${layer.factor.toFixed(6)}  (${layer.method})`);
}
const model = readOnnxModel(modelFile);
const claimed = Number(model.metadata.lipschitz_constant);
console.log(`Lipschitz bound ${bound.total} (the file claims ${claimed})`);
if (!(bound.total <= claimed)) failures.push(`the bound ${bound.total} is above the claimed Lipschitz constant ${claimed}`);

// `lip verify`: accuracy, certified radii and certified robust accuracy, in the data's units (8-bit pixels read as x/255).
const result = await verifyModel(modelFile, { data: imagesFile, labels: labelsFile, eps: [0.25, 0.5, 1] });
const chance = 1 / result.classNames.length;
console.log(
  `accuracy ${result.accuracy.toFixed(3)} on ${result.n} images (chance ${chance.toFixed(3)}), ` +
    `median certificate ${result.medianCertificate?.toFixed(3)}, L = ${result.lipschitzUsed} (${result.lipschitzSource}, proven: ${result.lipschitzProven})`,
);
for (const { eps, value } of result.cra) console.log(`  certified robust accuracy at ε = ${eps}: ${value.toFixed(3)}`);
if (!(result.accuracy > chance + 0.3)) failures.push(`accuracy ${result.accuracy} is not well above chance ${chance}`);
if (!result.lipschitzProven) failures.push('the certificates do not rest on a proven Lipschitz constant');
if (!(result.cra[0].value > 0)) failures.push(`nothing is certified at ε = ${result.cra[0].eps}`);

// `lip attack`: DeepFool on the first 30 images; a found adversarial closer than its certificate breaks the guarantee.
const images = readIdx(imagesFile);
const labels = readIdx(labelsFile).data;
const [, height, width] = images.shape;
const n = 30;
const pixels = Float32Array.from(images.data.subarray(0, n * height * width), (v) => v / 255);
await tf.setBackend('cpu'); // the attack differentiates the model in TensorFlow.js (lip attack's default backend)
const session = await openSession(model);
try {
  const attack = await runAttack(model, session, pixels, labels.subarray(0, n), [...Array(n).keys()], [1, height, width], { attack: 'deepfool' });
  const closest = attack.results.filter((r) => r.distance !== null).map((r) => r.distance! / r.certificate);
  console.log(
    `DeepFool: ${attack.found} adversarials found on ${n} images, ${attack.violations} closer than their certificate` +
      (closest.length > 0 ? `; distance / certificate at least ${Math.min(...closest).toFixed(2)}` : ''),
  );
  if (attack.violations > 0) failures.push(`${attack.violations} adversarial examples are closer than their certificate`);
} finally {
  await session.close();
}

if (failures.length > 0) {
  console.error(`FAILED: ${failures.join('; ')}`);
  process.exit(1);
}

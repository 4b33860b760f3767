/**
 * Export a trained 1-Lipschitz tfjs model to a plain ONNX file with @lip/export,
 * and check that onnxruntime computes the same logits as TensorFlow.js.
 *
 * Shows: loading a checkpoint the tfjs way (`loadLayersModel('file://…')`, which
 * works once `@lip/train/node` is imported), `exportOnnx` with the metadata a
 * certificate needs (class names, input range), and the exported file running
 * in onnxruntime-web (the same bytes run in onnxruntime-node, OpenCV, Python).
 *
 * Run after train-own-tensors:
 *   npx tsc && node build/export.js [OUT_DIR]      # default OUT_DIR: lip-example
 * Reads OUT_DIR/checkpoint/model.json and OUT_DIR/test-images-idx3-ubyte, writes
 * OUT_DIR/model.onnx. Exits 1 when onnxruntime and tfjs disagree by more than 1e-4.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-web';
import { exportOnnx } from '@lip/export';
import { selectBackend } from '@lip/train';
import { readIdx } from '@lip/train/node';

const OUT_DIR = process.argv[2] ?? 'lip-example';
// One name per logit, in the order of the labels the model was trained with.
const CLASS_NAMES = ['horizontal', 'vertical', 'diagonal'];

await selectBackend('auto'); // tfjs needs a backend before it builds the layers
const model = await loadLayersModel(`file://${path.resolve(OUT_DIR, 'checkpoint', 'model.json')}`);
const onnxBytes = exportOnnx(model, { classNames: CLASS_NAMES, inputRange: [0, 1] });
const onnxFile = path.join(OUT_DIR, 'model.onnx');
fs.writeFileSync(onnxFile, onnxBytes);
console.log(`wrote ${onnxFile} (${onnxBytes.length} bytes)`);

// The same images through tfjs (NHWC) and onnxruntime (the ONNX input is NCHW; one channel has the same memory order).
const images = readIdx(path.join(OUT_DIR, 'test-images-idx3-ubyte'));
const [n, height, width] = images.shape;
const pixels = Float32Array.from(images.data, (v) => v / 255);
const expected = await (model.predict(tf.tensor4d(pixels, [n, height, width, 1])) as tf.Tensor).data();

ort.env.wasm.numThreads = 1;
const session = await ort.InferenceSession.create(onnxBytes);
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', pixels, [n, 1, height, width]) };
const got = (await session.run(feeds))[session.outputNames[0]].data as Float32Array;
await session.release();

let maxDiff = 0;
for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected[i]));
console.log(`onnxruntime vs tfjs on ${n} images: largest logit difference ${maxDiff.toExponential(2)}`);
if (got.length !== expected.length || !(maxDiff <= 1e-4)) {
  console.error(`FAILED: the ONNX file computes other logits than the tfjs model (${got.length} vs ${expected.length} values, max diff ${maxDiff})`);
  process.exit(1);
}

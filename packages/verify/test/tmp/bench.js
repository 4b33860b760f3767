const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-wasm');
const v = require('/work/main/packages/verify/dist');
const { loadDataset, onePerClass } = require('/work/main/packages/train/dist');
(async () => {
  await tf.setBackend(process.argv[3] || 'wasm');
  const model = v.readOnnxModel(process.argv[2]);
  const data = await loadDataset('fashion-mnist', 'test');
  const idx = onePerClass(data.labels);
  const x = new Float32Array(10 * 784); idx.forEach((k, i) => x.set(data.images.subarray(k * 784, (k + 1) * 784), i * 784));
  const f = v.translateOnnx(model);
  const preds = v.argmaxRows(v.logitsOf(f, x, [10, 1, 28, 28]).logits, 10, 10);
  const steps = Number(process.argv[4] || 200);
  let t = Date.now();
  v.cwL2(f, x, [10, 1, 28, 28], preds, { binarySearchSteps: 1, steps, abortEarly: false });
  const ms = (Date.now() - t) / steps;
  console.log(`${process.argv[2]} ${tf.getBackend()}: ${ms.toFixed(2)} ms/step -> 48000 steps = ${(ms * 48).toFixed(0)} s`);
})();

const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-wasm');
const v = require('/work/main/packages/verify/dist');
(async () => {
  await tf.setBackend('wasm');
  const model = v.readOnnxModel(process.argv[2]);
  const f = v.translateOnnx(model, { fuse: process.argv[3] !== 'nofuse' });
  const x = tf.randomUniform([10, 1, 28, 28]);
  const g = () => tf.tidy(() => tf.grad((xin) => tf.sum(f(xin)))(x));
  const fw = () => tf.tidy(() => f(x));
  const minTime = (h) => { let best = Infinity; for (let r = 0; r < 12; r++) { const t = process.hrtime.bigint(); for (let i = 0; i < 5; i++) h().dispose(); best = Math.min(best, Number(process.hrtime.bigint() - t) / 5e6); } return best; };
  console.log(process.argv[2], process.argv[3] || '', 'grad min ms', minTime(g).toFixed(2), 'fwd min ms', minTime(fw).toFixed(2));
})();

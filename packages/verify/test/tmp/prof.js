const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-wasm');
const v = require('/work/main/packages/verify/dist');
(async () => {
  await tf.setBackend('wasm');
  const model = v.readOnnxModel(process.argv[2]);
  const f = v.translateOnnx(model);
  const x = tf.randomUniform([10, 1, 28, 28]);
  const g = () => tf.tidy(() => tf.grad((xin) => tf.sum(f(xin)))(x));
  for (let i = 0; i < 5; i++) g().dispose();
  const prof = await tf.profile(() => g());
  const agg = {};
  for (const k of prof.kernels) { agg[k.name] = agg[k.name] || { ms: 0, n: 0 }; agg[k.name].ms += await k.kernelTimeMs; agg[k.name].n++; }
  const rows = Object.entries(agg).sort((a, b) => b[1].ms - a[1].ms);
  let tot = 0; for (const [, r] of rows) tot += r.ms;
  console.log('total kernel ms', tot.toFixed(1), 'kernels', prof.kernels.length);
  for (const [k, r] of rows.slice(0, 25)) console.log(k.padEnd(24), r.n, r.ms.toFixed(2));
  let t = Date.now(); for (let i = 0; i < 20; i++) g().dispose(); console.log('wall per grad ms', (Date.now() - t) / 20);
  t = Date.now(); for (let i = 0; i < 20; i++) tf.tidy(() => f(x)).dispose(); console.log('wall per fwd ms', (Date.now() - t) / 20);
})();

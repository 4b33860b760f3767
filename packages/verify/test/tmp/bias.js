const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-wasm');
(async () => {
  await tf.setBackend('wasm');
  const minTime = (name, h) => { for (let i = 0; i < 3; i++) tf.tidy(h); let best = Infinity; for (let r = 0; r < 10; r++) { const t = process.hrtime.bigint(); for (let i = 0; i < 5; i++) tf.tidy(h); best = Math.min(best, Number(process.hrtime.bigint() - t) / 5e6); } console.log(name.padEnd(36), best.toFixed(3)); };
  const x1 = tf.randomNormal([10, 28, 28, 1]); const w1 = tf.randomNormal([3, 3, 1, 16]); const b1 = tf.randomNormal([16]);
  const a1 = tf.randomNormal([10, 28, 28, 16]); const bfull = tf.randomNormal([10, 28, 28, 16]);
  for (let k = 0; k < 2; k++) {
  minTime('conv1 fwd', () => tf.conv2d(x1, w1, 1, 'same'));
  minTime('conv1 fused bias', () => tf.fused.conv2d({ x: x1, filter: w1, strides: 1, pad: 'same', dilations: 1, bias: b1 }));
  minTime('add bias 4d', () => tf.add(a1, b1));
  minTime('add bias 2d', () => tf.reshape(tf.add(tf.reshape(a1, [-1, 16]), b1), a1.shape));
  minTime('add same shape', () => tf.add(a1, bfull));
  }
})();

const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-wasm');
(async () => {
  await tf.setBackend('wasm');
  const time = (name, f) => { for (let i = 0; i < 3; i++) tf.tidy(f); const t = Date.now(); for (let i = 0; i < 50; i++) tf.tidy(f); console.log(name.padEnd(40), ((Date.now() - t) / 50).toFixed(3), 'ms'); };
  const img = tf.randomNormal([10, 28, 28, 16]); const b = tf.randomNormal([16]); const img2 = tf.randomNormal([10, 28, 28, 16]);
  time('add same shape', () => tf.add(img, img2));
  time('add bias broadcast [16]', () => tf.add(img, b));
  time('add bias via reshape 2d', () => tf.reshape(tf.add(tf.reshape(img, [-1, 16]), b), img.shape));
  const w = tf.randomNormal([3, 3, 16, 16]);
  time('conv', () => tf.conv2d(img, w, 1, 'same'));
  time('fused conv + bias', () => tf.fused.conv2d({ x: img, filter: w, strides: 1, pad: 'same', bias: b }));
  time('mul scalar', () => tf.mul(img, 2));
  time('mul scalar tensor', () => tf.mul(img, tf.scalar(2)));
})();

const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');
require('@tensorflow/tfjs-layers');
(async () => {
  await tf.setBackend('wasm'); await tf.ready();
  console.log(tf.getBackend());
  const x = tf.randomNormal([10,28,28,16]); const w = tf.randomNormal([3,3,16,32]);
  let y = tf.conv2d(x, w, 1, [[0,0],[1,1],[1,1],[0,0]]); console.log(y.shape);
  const g = tf.grad((x)=>tf.sum(tf.conv2d(x, w, 1, "same")));
  for (let i=0;i<3;i++) g(x).dispose();
  let t=Date.now(); for (let i=0;i<50;i++) g(x).dispose(); console.log('grad ms', (Date.now()-t)/50);
  t=Date.now(); for (let i=0;i<50;i++) tf.conv2d(x, w, 1, 'same').dispose(); console.log('fwd ms', (Date.now()-t)/50);
  const z = tf.randomNormal([10,14,14,32]);
  t=Date.now(); for (let i=0;i<200;i++) tf.relu(z).dispose(); console.log('relu small ms', (Date.now()-t)/200);
})();

/**
 * Invertible down/up-sampling (deel-torchlip's InvertibleDownSampling /
 * InvertibleUpSampling): a permutation of the pixels, hence isometric and
 * 1-Lipschitz in both directions.
 *
 * Channel order (NHWC): output channel `(dy * pw + dx) * C + c` holds input
 * pixel `(h * ph + dy, w * pw + dx)`, channel `c`, that is TensorFlow's and
 * ONNX's SpaceToDepth order (square blocks export to one ONNX SpaceToDepth,
 * and `invertibleUpSampling` equals `tf.depthToSpace`). deel-torchlip works in
 * NCHW and orders its channels differently; the order does not matter for the
 * Lipschitz property, but weights of the following layer are not
 * interchangeable between the two.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';

function checkPoolSize(poolSize: unknown, where: string): asserts poolSize is [number, number] {
  assertArg(
    Array.isArray(poolSize) && poolSize.length === 2 && poolSize.every((s) => typeof s === 'number' && Number.isInteger(s) && s >= 1),
    () => `${where}: 'poolSize' must be two integers >= 1, got ${JSON.stringify(poolSize)}`,
  );
}

/**
 * Space-to-depth: `[B, H, W, C] -> [B, H/ph, W/pw, ph*pw*C]`. `H` and `W`
 * must be multiples of the pool size.
 */
export function invertibleDownSampling(x: tf.Tensor4D, poolSize: [number, number]): tf.Tensor4D {
  const where = 'invertibleDownSampling';
  assertArg(x.rank === 4, () => `${where}: 'x' must be a 4-D tensor [B, H, W, C], got shape [${x.shape.join(', ')}]`);
  checkPoolSize(poolSize, where);
  const [b, h, w, c] = x.shape;
  const [ph, pw] = poolSize;
  assertArg(h % ph === 0 && w % pw === 0, () => `${where}: the input size [${h}, ${w}] must be a multiple of 'poolSize' ${JSON.stringify(poolSize)}`);
  return tf.tidy(() => {
    const blocks = tf.reshape(x, [b, h / ph, ph, w / pw, pw, c]);
    return tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4, 5]), [b, h / ph, w / pw, ph * pw * c]);
  });
}

/** Depth-to-space, the inverse of `invertibleDownSampling`: `[B, h, w, ph*pw*C] -> [B, h*ph, w*pw, C]`. */
export function invertibleUpSampling(x: tf.Tensor4D, poolSize: [number, number]): tf.Tensor4D {
  const where = 'invertibleUpSampling';
  assertArg(x.rank === 4, () => `${where}: 'x' must be a 4-D tensor [B, H, W, C], got shape [${x.shape.join(', ')}]`);
  checkPoolSize(poolSize, where);
  const [b, h, w, depth] = x.shape;
  const [ph, pw] = poolSize;
  assertArg(depth % (ph * pw) === 0, () => `${where}: the channel count ${depth} must be a multiple of ${ph * pw} (the 'poolSize' area)`);
  const c = depth / (ph * pw);
  return tf.tidy(() => {
    const blocks = tf.reshape(x, [b, h, w, ph, pw, c]);
    return tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4, 5]), [b, h * ph, w * pw, c]);
  });
}

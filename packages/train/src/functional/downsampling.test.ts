import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors';
import { invertibleDownSampling, invertibleUpSampling } from './downsampling';

describe.each(['cpu', 'wasm'])('invertible down/up-sampling on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  it('orders channels as (dy, dx, c), SpaceToDepth order', () => {
    tf.tidy(() => {
      // x[0, h, w, c] = 100 h + 10 w + c on a 2x2x2 image.
      const values: number[] = [];
      for (let h = 0; h < 2; h++) for (let w = 0; w < 2; w++) for (let c = 0; c < 2; c++) values.push(100 * h + 10 * w + c);
      const y = invertibleDownSampling(tf.tensor4d(values, [1, 2, 2, 2]), [2, 2]);
      expect(y.shape).toEqual([1, 1, 1, 8]);
      expect(Array.from(y.dataSync())).toEqual([0, 1, 10, 11, 100, 101, 110, 111]);
    });
  });

  it('is the inverse of tf.depthToSpace for square blocks, and isometric', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 6, 4, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const y = invertibleDownSampling(x, [2, 2]);
      expect(y.shape).toEqual([2, 3, 2, 12]);
      expect(Array.from(tf.depthToSpace(y, 2).dataSync())).toEqual(Array.from(x.dataSync()));
      expect(Array.from(invertibleUpSampling(y, [2, 2]).dataSync())).toEqual(Array.from(x.dataSync()));
      expect(tf.norm(y).dataSync()[0]).toBeCloseTo(tf.norm(x).dataSync()[0], 5);
    });
  });

  it('round-trips non-square blocks, with a permutation gradient', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([1, 4, 6, 2], 0, 1, 'float32', 8) as tf.Tensor4D;
      const y = invertibleDownSampling(x, [2, 3]);
      expect(y.shape).toEqual([1, 2, 2, 12]);
      expect(Array.from(invertibleUpSampling(y, [2, 3]).dataSync())).toEqual(Array.from(x.dataSync()));
      const w = tf.randomNormal([1, 2, 2, 12], 0, 1, 'float32', 9);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(invertibleDownSampling(t as tf.Tensor4D, [2, 3]), w)))(x);
      expect(Array.from(g.dataSync())).toEqual(Array.from(invertibleUpSampling(w as tf.Tensor4D, [2, 3]).dataSync()));
    });
  });
});

describe('argument checks', () => {
  it('rejects sizes that do not divide, with InvalidArgumentError', () => {
    const x = tf.zeros([1, 5, 4, 1]) as tf.Tensor4D;
    expect(() => invertibleDownSampling(x, [2, 2])).toThrow(InvalidArgumentError);
    expect(() => invertibleDownSampling(x, [2, 2])).toThrow("invertibleDownSampling: the input size [5, 4] must be a multiple of 'poolSize' [2,2]");
    expect(() => invertibleDownSampling(x, [0, 1])).toThrow("'poolSize' must be two integers >= 1, got [0,1]");
    expect(() => invertibleUpSampling(tf.zeros([1, 2, 2, 6]) as tf.Tensor4D, [2, 2])).toThrow(
      'invertibleUpSampling: the channel count 6 must be a multiple of 4',
    );
    x.dispose();
  });
});

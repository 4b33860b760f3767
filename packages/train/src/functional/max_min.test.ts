import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { expectCloseRelMax, flat, Nested, shapeOf } from '@lip/test-support';
import { InvalidArgumentError } from '../errors';
import { maxMin } from './max_min';

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../../testdata/torchlip-v0.1.1-reference.json'), 'utf8')) as {
  activations: Array<Record<string, Nested>>;
  activations2d: Array<Record<string, Nested>>;
};
const act = fixture.activations[0];
const act2d = fixture.activations2d[0];

describe.each(['cpu', 'wasm'])('maxMin on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  it('matches the NHWC fixture (8 -> 16 channels) and its NCHW copy to 1e-6 relative', () => {
    tf.tidy(() => {
      const x = tf.tensor(flat(act.inputNHWC), shapeOf(act.inputNHWC));
      const y = maxMin(x);
      expect(y.shape).toEqual(shapeOf(act.maxMinNHWC));
      expectCloseRelMax(y.dataSync(), flat(act.maxMinNHWC));
      expectCloseRelMax(tf.transpose(y, [0, 3, 1, 2]).dataSync(), flat(act.maxMinNCHW));
    });
  });

  it('matches the 2-D fixture (12 -> 24 channels) to 1e-6 relative', () => {
    tf.tidy(() => {
      const y = maxMin(tf.tensor(flat(act2d.input), shapeOf(act2d.input)));
      expect(y.shape).toEqual([6, 24]);
      expectCloseRelMax(y.dataSync(), flat(act2d.maxMin));
    });
  });

  it('preserves the norm, and its gradient is (dy_j - dy_{C+j}) on the sign of x', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([[1.5, -2, 0.25]]);
      expect(tf.norm(maxMin(x)).dataSync()[0]).toBeCloseTo(tf.norm(x).dataSync()[0], 6);
      const w = tf.tensor2d([[1, 2, 3, 4, 5, 6]]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(maxMin(t), w)))(x);
      expect(Array.from(g.dataSync())).toEqual([1, -5, 3]);
    });
  });
});

describe('argument checks', () => {
  it('rejects a scalar', () => {
    expect(() => maxMin(tf.scalar(1))).toThrow(InvalidArgumentError);
    expect(() => maxMin(tf.scalar(1))).toThrow("maxMin: 'x' must have at least one axis (channels last), got a scalar");
  });
});

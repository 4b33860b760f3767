import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LipError } from '../errors';
import { tensorCount, withNoLeak } from './memory';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

test('tensorCount follows the engine', () => {
  const before = tensorCount();
  const t = tf.ones([2, 2]);
  expect(tensorCount()).toBe(before + 1);
  t.dispose();
  expect(tensorCount()).toBe(before);
});

test('withNoLeak returns what fn returns, and allows returned tensors', () => {
  expect(withNoLeak(() => 42)).toBe(42);
  const { a, list } = withNoLeak(() => ({ a: tf.ones([2]), list: [tf.zeros([3]), tf.tidy(() => tf.add(1, 2))] }));
  expect(a.shape).toEqual([2]);
  tf.dispose([a, ...list]);
});

test('withNoLeak throws a LipError when fn leaks a tensor', () => {
  let leaked: tf.Tensor | undefined;
  const leak = () => {
    leaked = tf.ones([4]);
    return 1;
  };
  expect(() => withNoLeak(leak)).toThrow(LipError);
  expect(() => withNoLeak(leak)).toThrow(/1 tensor\(s\) and 1 backend buffer\(s\) leaked/);
  leaked?.dispose();
});

test('withNoLeak checks async functions after they settle', async () => {
  await expect(withNoLeak(async () => tf.tidy(() => tf.sum(tf.ones([3])).dataSync()[0]))).resolves.toBe(3);
  const kept: tf.Tensor[] = [];
  await expect(
    withNoLeak(async () => {
      kept.push(tf.ones([1]));
    }),
  ).rejects.toThrow(/leaked/);
  tf.dispose(kept);
});

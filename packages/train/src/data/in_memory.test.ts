/** Your own data as a `Dataset`: every accepted form, and one clear error for each bad one. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { DataError, InvalidArgumentError } from '../errors';
import { classCount, toDataset } from './in_memory';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const pixels = Float32Array.from({ length: 3 * 2 * 2 * 1 }, (_, i) => i / 12);

test('typed arrays, tensors (one-hot or indices, [N,H,W] or [N,H,W,C]) and Dataset-like objects agree', async () => {
  const fromArrays = await toDataset({ x: pixels, y: Uint8Array.from([2, 0, 1]), inputShape: [2, 2, 1] }, 'a');
  expect([fromArrays.n, fromArrays.height, fromArrays.width, fromArrays.channels]).toEqual([3, 2, 2, 1]);
  expect(Array.from(fromArrays.labels)).toEqual([2, 0, 1]);
  expect(fromArrays.images).toEqual(pixels);

  const oneHot = tf.tensor2d([
    [0, 0, 1],
    [1, 0, 0],
    [0, 1, 0],
  ]);
  const fromTensors = await toDataset({ x: tf.tensor3d(pixels, [3, 2, 2]), y: oneHot }, 'b');
  expect(Array.from(fromTensors.labels)).toEqual([2, 0, 1]);
  expect(fromTensors.images).toEqual(pixels);
  const flatOneHot = await toDataset({ x: pixels, y: oneHot.dataSync(), numClasses: 3, inputShape: [2, 2, 1] }, 'c');
  expect(Array.from(flatOneHot.labels)).toEqual([2, 0, 1]);
  const flatTensor = await toDataset({ x: tf.tensor2d(pixels, [3, 4]), y: [2, 0, 1], inputShape: [2, 2, 1] }, 'd');
  expect(flatTensor.height).toBe(2);

  const like = await toDataset({ images: pixels, labels: [2, 0, 1], height: 2, width: 2, channels: 1, classNames: ['a', 'b', 'c'] }, 'e');
  expect(like.classNames).toEqual(['a', 'b', 'c']);
  expect(like.n).toBe(3);
});

test('single-sample tf.data elements are stacked; an endless dataset is refused', async () => {
  let i = 0;
  const single = {
    iterator: async () => ({
      next: async () =>
        i < 3
          ? { value: [tf.tensor3d(pixels.subarray(4 * i, 4 * i + 4), [2, 2, 1]), tf.scalar([2, 0, 1][i++]!)], done: false }
          : { value: undefined, done: true },
    }),
  };
  const ds = await toDataset(single, 'f');
  expect(Array.from(ds.labels)).toEqual([2, 0, 1]);
  expect(ds.images).toEqual(pixels);
  const endless = {
    iterator: async () => ({ next: async () => ({ value: { xs: tf.zeros([1 << 20, 2, 2, 1]), ys: tf.zeros([1 << 20]) }, done: false }) }),
  };
  await expect(toDataset(endless, 'g')).rejects.toThrow("'g' yields more than 16777216 samples; is it infinite (repeat())?");
});

test.each([
  [{ x: pixels, y: [0, 1, 2] }, InvalidArgumentError, "'t.x' is a flat array: pass 'inputShape' [H, W, C] to say how each sample is laid out"],
  [{ x: pixels, y: [0, 1, 2], inputShape: [5, 1, 1] }, InvalidArgumentError, "'t.x' holds 12 values, not a whole number of [5, 1, 1] samples (5 values each)"],
  [
    { x: pixels, y: [0, 1], inputShape: [2, 2, 1] },
    InvalidArgumentError,
    "'t.y' holds 2 values for 3 images: pass N class indices, or N·K one-hot values with 'numClasses' K",
  ],
  [{ x: pixels, y: [0, 1.5, 2], inputShape: [2, 2, 1] }, DataError, "'t.y' has label 1.5 at index 1; labels must be integer class indices in [0, 256)"],
  [
    { x: Float32Array.of(...pixels.subarray(0, 11), Number.NaN), y: [0, 1, 2], inputShape: [2, 2, 1] },
    DataError,
    "'t.x' holds a value that is NaN (image 2); clean or drop that image",
  ],
  [{ z: 1 }, InvalidArgumentError, "'t' must be data: {x, y}, {images, labels, height, width, channels} or a tf.data dataset"],
])('%# one clear error', async (source, type, message) => {
  const err = await toDataset(source as never, 't').catch((e: Error) => e);
  expect(err).toBeInstanceOf(type);
  expect((err as Error).message).toBe(message);
});

test('classCount: the class names, else the largest label + 1; a label beyond the names is an error', () => {
  expect(classCount([{ labels: Uint8Array.of(0, 4) }, { labels: Uint8Array.of(2) }], undefined)).toBe(5);
  expect(classCount([{ labels: Uint8Array.of(0, 1) }], ['a', 'b', 'c'])).toBe(3);
  expect(() => classCount([{ labels: Uint8Array.of(3) }], ['a', 'b'])).toThrow('a label is 3 but only 2 class names are given (a, b)');
});

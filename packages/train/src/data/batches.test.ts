import { DataError, InvalidArgumentError } from '../errors';
import { batchIndices, onePerClass, sliceBatch } from './batches';

describe('onePerClass', () => {
  it('returns the first index of each class, class by class', () => {
    const labels = Uint8Array.from([9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 0, 3, 8, 0]);
    expect(onePerClass(labels)).toEqual([10, 2, 1, 11, 6, 8, 4, 9, 12, 0]);
  });

  it('returns the first k of each class', () => {
    const labels = [0, 1, 0, 1, 1, 0];
    expect(onePerClass(labels, 2, 2)).toEqual([0, 2, 1, 3]);
  });

  it('fails loudly when a class is short or a label is out of range', () => {
    expect(() => onePerClass([0, 1, 2], 1, 4)).toThrow(DataError);
    expect(() => onePerClass([0, 1, 2], 1, 4)).toThrow(/class 3 has 0 of the 1 samples asked for among 3 labels/);
    expect(() => onePerClass([0, 12], 1, 10)).toThrow(/label 12 at index 1 is outside \[0, 10\)/);
    expect(() => onePerClass([0], 0)).toThrow(InvalidArgumentError);
  });
});

describe('sliceBatch', () => {
  // 5 rows of 3 values: row i is [10i, 10i+1, 10i+2]
  const images = Float32Array.from({ length: 15 }, (_, j) => Math.floor(j / 3) * 10 + (j % 3));
  const labels = Uint8Array.from([0, 1, 2, 3, 4]);

  it('copies the selected rows', () => {
    const b = sliceBatch(images, labels, [4, 0, 2]);
    expect(Array.from(b.images)).toEqual([40, 41, 42, 0, 1, 2, 20, 21, 22]);
    expect(Array.from(b.labels)).toEqual([4, 0, 2]);
  });

  it('reuses the output buffers and returns exact-length views for a short last batch', () => {
    const out = { images: new Float32Array(9), labels: new Uint8Array(3) };
    const full = sliceBatch(images, labels, Uint32Array.from([1, 2, 3]), out);
    expect(full).toBe(out);
    const short = sliceBatch(images, labels, [3], out);
    expect(short.images.buffer).toBe(out.images.buffer);
    expect(short.labels.buffer).toBe(out.labels.buffer);
    expect(Array.from(short.images)).toEqual([30, 31, 32]);
    expect(Array.from(short.labels)).toEqual([3]);
  });

  it('rejects bad indices, a small buffer, and rows that do not divide', () => {
    expect(() => sliceBatch(images, labels, [5])).toThrow(/'indices'\[0\] = 5 is out of range \[0, 5\)/);
    expect(() => sliceBatch(images, labels, [0, 1], { images: new Float32Array(3), labels: new Uint8Array(2) })).toThrow(InvalidArgumentError);
    expect(() => sliceBatch(new Float32Array(7), labels, [0])).toThrow(/whole number of rows/);
  });
});

describe('batchIndices', () => {
  const order = Uint32Array.from([5, 3, 1, 0, 2, 4, 6]);
  it('splits into views of batchSize with a short last one', () => {
    expect([...batchIndices(order, 3)].map((b) => Array.from(b))).toEqual([[5, 3, 1], [0, 2, 4], [6]]);
    expect([...batchIndices(order, 3, true)].map((b) => Array.from(b))).toEqual([
      [5, 3, 1],
      [0, 2, 4],
    ]);
    expect([...batchIndices(order, 3)][0]!.buffer).toBe(order.buffer);
    expect(() => [...batchIndices(order, 0)]).toThrow(InvalidArgumentError);
  });
});

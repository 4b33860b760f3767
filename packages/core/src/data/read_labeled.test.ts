import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { rejectionOf, tmpDirPerTest } from '@lip/test-support';
import { cifarBatch, fixtureValue, npyBytes, npyHeaderText, npyOf, pngBytes, READER_FIXTURES, zipBytes } from '@lip/test-support/data';
import { DataError, InvalidArgumentError } from '../errors';
import { encodeIdx } from './idx';
import { readLabeledData } from './read_labeled';

const scratch = tmpDirPerTest('labeled');
const put = scratch.put;

async function rejects(
  input: string,
  opts: Parameters<typeof readLabeledData>[1],
  type: typeof DataError | typeof InvalidArgumentError,
  pattern: RegExp,
): Promise<void> {
  const err = await rejectionOf(readLabeledData(input, opts));
  expect(err).toBeInstanceOf(type);
  expect(err.message).toMatch(pattern);
}

const bytes = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed + i * 13) & 255);

describe('readLabeledData: .npz', () => {
  const keras = path.join(READER_FIXTURES, 'npz', 'deflated_keras.npz');

  it('picks x_<split>/y_<split> (Keras mnist.npz layout); uint8 is scaled by 1/255; [N, 1] labels are accepted', async () => {
    const d = await readLabeledData(keras, { split: 'test' });
    expect([d.n, d.height, d.width, d.channels, d.format, d.source]).toEqual([3, 4, 4, 1, 'npz', keras]);
    expect(Array.from(d.labels)).toEqual([0, 1, 2]);
    expect(Array.from(d.images)).toEqual(Array.from({ length: 48 }, (_, i) => Math.fround(fixtureValue(i, 'u') / 255)));
    const train = await readLabeledData(keras, { split: 'train', limit: 4 });
    expect([train.n, Array.from(train.labels)]).toEqual([4, [0, 1, 2, 3]]);
    await rejects(keras, {}, InvalidArgumentError, /'split' must be 'train' or 'test': .* holds x_train\/y_train and x_test\/y_test/);
  });

  it('reads NCHW float arrays as they are, transposed to NHWC (layout told from the shape)', async () => {
    const d = await readLabeledData(path.join(READER_FIXTURES, 'npz', 'nchw_f4.npz'));
    expect([d.n, d.height, d.width, d.channels]).toEqual([4, 5, 6, 3]);
    // Source element (i, c, y, x) has C-order index ((i*3 + c)*5 + y)*6 + x and value f(index) / 10 in float32.
    const src = (i: number, c: number, y: number, x: number): number => Math.fround(Math.fround(fixtureValue(((i * 3 + c) * 5 + y) * 6 + x, 'f')) / 10);
    for (const [i, y, x, c] of [
      [0, 0, 0, 0],
      [1, 2, 3, 2],
      [3, 4, 5, 1],
    ] as const) {
      expect(d.images[((i * 5 + y) * 6 + x) * 3 + c]).toBe(src(i, c, y, x));
    }
    expect(Array.from(d.labels)).toEqual([1, 0, 2, 1]);
  });

  it('reads x/y from numpy.savez; an explicit scale and layout win', async () => {
    const file = path.join(READER_FIXTURES, 'npz', 'stored_xy.npz');
    const d = await readLabeledData(file, { scale: 2, layout: 'nhwc', split: 'test' });
    expect([d.n, d.height, d.width, d.channels]).toEqual([5, 4, 4, 1]);
    expect(d.images[3]).toBe(fixtureValue(3, 'u') * 2);
    await rejects(file, { labels: 'y.npy' }, InvalidArgumentError, /'labels' is for an images \.npy or IDX file/);
  });

  it('names what is missing when no pair is there', async () => {
    const file = put(
      'a.npz',
      zipBytes([
        { name: 'x.npy', data: npyOf(bytes(8), [2, 2, 2]) },
        { name: 'z.npy', data: npyOf(bytes(2), [2]) },
      ]),
    );
    await rejects(
      file,
      {},
      DataError,
      /holds no images\/labels pair: expected arrays named x and y, images and labels, or x_train\/y_train and x_test\/y_test; it holds 'x', 'z'/,
    );
  });
});

describe('readLabeledData: .npy', () => {
  it('reads an images .npy with its labels file; without one it says how to give it', async () => {
    const images = put(
      'imgs.npy',
      npyOf(
        Float32Array.from({ length: 2 * 3 * 2 * 1 }, (_, i) => i / 10),
        [2, 2, 3, 1],
      ),
    );
    const labels = put('lbl.npy', npyOf(BigInt64Array.from([1n, 0n]), [2]));
    const d = await readLabeledData(images, { labels });
    expect([d.n, d.height, d.width, d.channels, d.format]).toEqual([2, 2, 3, 1, 'npy']);
    expect(Array.from(d.images)).toEqual(Array.from({ length: 12 }, (_, i) => Math.fround(i / 10)));
    expect(Array.from(d.labels)).toEqual([1, 0]);
    await rejects(
      images,
      {},
      InvalidArgumentError,
      /holds only the images; pass the labels file too \('labels', --labels labels\.npy\), or a folder holding x\.npy and y\.npy, or an \.npz/,
    );
  });

  it('reads a folder of x.npy/y.npy, images.npy/labels.npy, or per-split files; refuses two pairs', async () => {
    put('x.npy', npyOf(bytes(2 * 4 * 4 * 3), [2, 4, 4, 3]));
    put('y.npy', npyOf(Uint8Array.from([3, 4]), [2]));
    const d = await readLabeledData(scratch.dir, { split: 'test' });
    expect([d.n, d.channels, d.format, d.source]).toEqual([2, 3, 'npy', scratch.dir]);
    put('images.npy', npyOf(bytes(2 * 4 * 4), [2, 4, 4]));
    put('labels.npy', npyOf(Uint8Array.from([1, 2]), [2]));
    await rejects(scratch.dir, {}, DataError, /holds more than one images\/labels pair \(x\/y and images\/labels\); keep one/);
    for (const f of ['x.npy', 'y.npy', 'images.npy', 'labels.npy']) fs.rmSync(path.join(scratch.dir, f));
    put('x_train.npy', npyOf(bytes(3 * 2 * 2), [3, 2, 2]));
    put('y_train.npy', npyOf(Uint8Array.from([0, 1, 0]), [3]));
    put('x_test.npy', npyOf(bytes(1 * 2 * 2), [1, 2, 2]));
    put('y_test.npy', npyOf(Uint8Array.from([1]), [1]));
    expect((await readLabeledData(scratch.dir, { split: 'train' })).n).toBe(3);
    expect((await readLabeledData(scratch.dir, { split: 'test' })).n).toBe(1);
    await rejects(scratch.dir, { labels: 'y.npy' }, InvalidArgumentError, /'labels' is for an images file \(\.npy or IDX\), but .* is a folder/);
  });

  it('checks shapes, label types and values, and NaN, naming the file', async () => {
    const y2 = put('y2.npy', npyOf(Uint8Array.from([0, 1]), [2]));
    const x = (data: Float32Array | Uint8Array, shape: number[]): string => put('x.npy', npyOf(data, shape));
    await rejects(
      x(new Uint8Array(6), [2, 3]),
      { labels: y2 },
      DataError,
      /holds an array of shape 2×3; images must be \[N, H, W\], \[N, H, W, C\] or \[N, C, H, W\] \(reshape flat/,
    );
    await rejects(x(new Uint8Array(2 * 3 * 4 * 3), [2, 3, 4, 3]), { labels: y2 }, DataError, /cannot tell NHWC from NCHW; pass the layout/);
    expect((await readLabeledData(path.join(scratch.dir, 'x.npy'), { labels: y2, layout: 'nchw' })).channels).toBe(3);
    const nan = Float32Array.from({ length: 8 }, (_, i) => (i === 5 ? NaN : 0));
    await rejects(x(nan, [2, 2, 2]), { labels: y2 }, DataError, /x\.npy holds a value that is NaN \(image 1, value 1 in NHWC order\)/);
    const xs = x(new Uint8Array(8), [2, 2, 2]);
    await rejects(xs, { labels: put('y3.npy', npyOf(Uint8Array.from([0, 1, 2]), [3])) }, DataError, /holds 2 images but .*y3\.npy holds 3 labels/);
    await rejects(
      xs,
      { labels: put('yf.npy', npyOf(Float32Array.from([0, 1]), [2])) },
      DataError,
      /yf\.npy holds float32 labels; labels must be integer class indices/,
    );
    await rejects(
      xs,
      { labels: put('yo.npy', npyOf(new Uint8Array(20), [2, 10])) },
      DataError,
      /yo\.npy holds an array of shape 2×10; .*for one-hot labels, save their argmax/,
    );
    await rejects(xs, { labels: put('yb.npy', npyOf(Int32Array.from([3, 300]), [2])) }, DataError, /yb\.npy has label 300 at index 1, outside \[0, 256\)/);
    await rejects(xs, { labels: put('yn.npy', npyOf(Int16Array.from([-1, 0]), [2])) }, DataError, /yn\.npy has label -1 at index 0/);
    await rejects(
      xs,
      { labels: y2, maxElements: 7 },
      DataError,
      /x\.npy is too large or corrupt: its header declares 2×2×2 uint8 = 8 bytes, 8 elements, over the limit of 7 elements; lip reads at most 7 elements per array: split the data into smaller files$/,
    );
    const big = put('big.npy', npyBytes(npyHeaderText('<f8', [2, 2, 2]), new Uint8Array(Float64Array.from({ length: 8 }, () => 1e300).buffer)));
    await rejects(big, { labels: y2 }, DataError, /big\.npy holds a value that is infinite in float32/);
  });
});

describe('readLabeledData: IDX', () => {
  function writeSplit(dir: string, prefix: string, n: number, gz = false): void {
    const enc = (b: Uint8Array): Uint8Array => (gz ? zlib.gzipSync(b) : b);
    const ext = gz ? '.gz' : '';
    put(path.join(dir, `${prefix}-images-idx3-ubyte${ext}`), enc(encodeIdx([n, 3, 2], bytes(n * 6, n))));
    put(
      path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`),
      enc(
        encodeIdx(
          [n],
          Uint8Array.from({ length: n }, (_, i) => i % 10),
        ),
      ),
    );
  }

  it('reads the pair of the split asked for, raw or gzip, and one pair without asking', async () => {
    writeSplit('d', 'train', 4);
    writeSplit('d', 't10k', 2, true);
    const dir = path.join(scratch.dir, 'd');
    const train = await readLabeledData(dir, { split: 'train' });
    expect([train.n, train.height, train.width, train.channels, train.format]).toEqual([4, 3, 2, 1, 'idx']);
    expect(Array.from(train.images)).toEqual(Array.from(bytes(24, 4), (b) => Math.fround(b / 255)));
    expect((await readLabeledData(dir, { split: 'test' })).n).toBe(2);
    await rejects(dir, {}, InvalidArgumentError, /'split' must be 'train' or 'test': .* holds several IDX image files/);
    writeSplit('one', 'emnist-letters-train', 3);
    expect((await readLabeledData(path.join(scratch.dir, 'one'))).n).toBe(3);
  });

  it('reads an images IDX file with the labels file beside it', async () => {
    writeSplit('d', 't10k', 2, true);
    const d = await readLabeledData(path.join(scratch.dir, 'd', 't10k-images-idx3-ubyte.gz'));
    expect([d.n, Array.from(d.labels)]).toEqual([2, [0, 1]]);
  });
});

describe('readLabeledData: folders', () => {
  it('reads a CIFAR-10 folder and an image folder', async () => {
    put(
      'c/test_batch.bin',
      cifarBatch([5, 2], () => 255),
    );
    const c = await readLabeledData(path.join(scratch.dir, 'c'));
    expect([c.format, c.n, c.channels, c.images[0]]).toEqual(['cifar10', 2, 3, 1]);
    put('i/cat/1.png', pngBytes(2, 2, 1, bytes(4)));
    put('i/dog/1.png', pngBytes(2, 2, 1, bytes(4)));
    const i = await readLabeledData(path.join(scratch.dir, 'i'));
    expect([i.format, i.n, i.classNames]).toEqual(['image-folder', 2, ['cat', 'dog']]);
  });

  it('refuses a folder holding several formats, and paths that are nothing it reads', async () => {
    put('m/x.npy', npyOf(bytes(4), [1, 2, 2]));
    put('m/y.npy', npyOf(Uint8Array.from([0]), [1]));
    put(
      'm/test_batch.bin',
      cifarBatch([1], () => 0),
    );
    await rejects(path.join(scratch.dir, 'm'), {}, DataError, /holds data in several formats \(npy, cifar10\); pass the file, or a folder, of one/);
    await rejects(put('notes.txt', 'hello'), {}, DataError, /is not a data file lip reads; pass an \.npz, an \.npy or IDX images file/);
    await rejects(path.join(scratch.dir, 'nope.npz'), {}, DataError, /nope\.npz does not exist/);
    await rejects(scratch.dir, { limit: 0 }, InvalidArgumentError, /'limit' must be a positive integer, got 0/);
    await rejects(scratch.dir, { scale: NaN }, InvalidArgumentError, /'scale' must be a positive finite number/);
    await rejects(scratch.dir, { layout: 'chw' as never }, InvalidArgumentError, /'layout' must be 'nhwc' or 'nchw'/);
  });
});

import * as fs from 'fs';
import * as path from 'path';
import { tmpDirPerTest } from '@lip/test-support';
import { cifarBatch } from '@lip/test-support/data';
import { DataError, InvalidArgumentError } from '../errors';
import { readCifar10 } from './cifar';

const tmp = tmpDirPerTest('cifar');

/** Pixel value of image `i` (global index), channel c, row y, column x. */
const pixel = (i: number, c: number, y: number, x: number): number => (i * 37 + c * 80 + y * 5 + x * 3) & 255;

function writeBatches(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), cifarBatch([6, 9, 9], pixel));
  fs.writeFileSync(
    path.join(dir, 'data_batch_10.bin'),
    cifarBatch([0], (i, ...r) => pixel(i + 5, ...r)),
  );
  fs.writeFileSync(
    path.join(dir, 'data_batch_2.bin'),
    cifarBatch([4, 1], (i, ...r) => pixel(i + 3, ...r)),
  );
  fs.writeFileSync(
    path.join(dir, 'test_batch.bin'),
    cifarBatch([3, 8], (i, ...r) => pixel(i + 100, ...r)),
  );
  fs.writeFileSync(path.join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
}

describe('readCifar10', () => {
  it('reads the train batches in numeric order, CHW records to NHWC in [0, 1], with the class names', () => {
    writeBatches(tmp.dir);
    const d = readCifar10(tmp.dir, { split: 'train' });
    expect([d.n, d.height, d.width, d.channels, d.format]).toEqual([6, 32, 32, 3, 'cifar10']);
    expect(Array.from(d.labels)).toEqual([6, 9, 9, 4, 1, 0]);
    expect(d.classNames).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    for (let i = 0; i < 6; i++) {
      for (const [y, x] of [
        [0, 0],
        [0, 31],
        [17, 5],
        [31, 31],
      ] as const) {
        for (let c = 0; c < 3; c++) expect(d.images[((i * 32 + y) * 32 + x) * 3 + c]).toBe(Math.fround(pixel(i, c, y, x) / 255));
      }
    }
  });

  it('reads the test batch, from the parent folder the archive extracts to, with a limit', () => {
    writeBatches(tmp.path('cifar-10-batches-bin'));
    const d = readCifar10(tmp.dir, { split: 'test', limit: 1, scale: 1 });
    expect([d.n, Array.from(d.labels)]).toEqual([1, [3]]);
    expect(d.images[0]).toBe(pixel(100, 0, 0, 0));
    expect(d.source).toBe(tmp.dir);
  });

  it('reads one batch file; without batches.meta.txt there are no class names', () => {
    fs.writeFileSync(tmp.path('test_batch.bin'), cifarBatch([2], pixel));
    const d = readCifar10(tmp.path('test_batch.bin'));
    expect([d.n, d.classNames]).toEqual([1, undefined]);
    expect(readCifar10(tmp.dir).n).toBe(1); // only one split present: no need to name it
  });

  it('asks for the split when the folder holds both', () => {
    writeBatches(tmp.dir);
    expect(() => readCifar10(tmp.dir)).toThrow(InvalidArgumentError);
    expect(() => readCifar10(tmp.dir)).toThrow(/'split' must be 'train' or 'test': .* holds both the train and the test batches/);
  });

  it('rejects truncated batches, bad labels, a short class list and a folder without batches, naming the file', () => {
    writeBatches(tmp.dir);
    const batch = tmp.path('data_batch_2.bin');
    fs.writeFileSync(batch, cifarBatch([1, 2], pixel).subarray(0, 5000));
    expect(() => readCifar10(tmp.dir, { split: 'train' })).toThrow(DataError);
    expect(() => readCifar10(tmp.dir, { split: 'train' })).toThrow(
      new RegExp(`^${batch} is not a CIFAR-10 binary batch: 5000 bytes is not a whole, non-zero number of 3073-byte records`),
    );
    fs.writeFileSync(batch, cifarBatch([1, 12], pixel));
    expect(() => readCifar10(tmp.dir, { split: 'train' })).toThrow(/data_batch_2\.bin has label 12 in record 1, outside \[0, 10\)/);
    fs.writeFileSync(batch, cifarBatch([1, 2], pixel));
    fs.writeFileSync(tmp.path('batches.meta.txt'), 'a\nb\n');
    expect(() => readCifar10(tmp.dir, { split: 'train' })).toThrow(
      /batches\.meta\.txt names 2 classes but .* has label 6 \(image 0\); list one class name per line/,
    );
    const empty = tmp.path('empty');
    fs.mkdirSync(empty);
    expect(() => readCifar10(empty)).toThrow(/holds no CIFAR-10 binary batches/);
  });

  it('refuses before allocating when the batches hold more values than allowed', () => {
    writeBatches(tmp.dir);
    expect(() => readCifar10(tmp.dir, { split: 'train', maxElements: 5 * 3072 })).toThrow(/holds 6 CIFAR-10 images, 18432 values, over the limit of 15360/);
    expect(readCifar10(tmp.dir, { split: 'train', maxElements: 5 * 3072, limit: 5 }).n).toBe(5);
  });
});

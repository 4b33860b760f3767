import * as fs from 'fs';
import * as path from 'path';
import { thrownBy, tmpDirPerTest } from '@lip/test-support';
import { FASHION_DIR, writeIdxSplit } from '@lip/test-support/data';
import { DataError, InvalidArgumentError } from '../errors';
import { onePerClass } from './batches';
import { FASHION_MNIST_CLASS_NAMES, splitFiles } from './datasets';
import { writeIdx } from './idx';
import { loadDataset, loadDatasetFromDir } from './load';
import { findDataset } from './locate';

const haveReal = fs.existsSync(FASHION_DIR);
if (!haveReal) {
  console.warn(`SKIPPED real Fashion-MNIST tests: ${FASHION_DIR} is absent (apt-get install dataset-fashion-mnist)`);
}
const itReal = haveReal ? it : it.skip;

const tmp = tmpDirPerTest('load');

/** Writes a small MNIST-style split: pixel j of image i is (i * 7 + j) % 256, label i % 10. */
function writeSplit(dir: string, split: 'train' | 'test', n: number, opts: { gzip?: boolean; labels?: Uint8Array; hw?: number } = {}): void {
  const hw = opts.hw ?? 28;
  const images = Uint8Array.from({ length: n * hw * hw }, (_, k) => (Math.floor(k / (hw * hw)) * 7 + (k % (hw * hw))) % 256);
  writeIdxSplit(dir, { split, n, h: hw, w: hw, gzip: opts.gzip, labels: opts.labels, images });
}

function expectDataError(fn: () => unknown, ...fragments: (string | RegExp)[]): void {
  const err = thrownBy(fn);
  expect(err).toBeInstanceOf(DataError);
  for (const f of fragments) expect(err.message).toMatch(f);
}

describe('real Fashion-MNIST', () => {
  itReal('loads the 60000/10000 splits with 28×28 images in [0, 1] and balanced labels', async () => {
    for (const [split, n, first] of [
      ['train', 60000, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]],
      ['test', 10000, [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]],
    ] as const) {
      const ds = await loadDataset('fashion-mnist', split, { dataDir: FASHION_DIR, download: false });
      expect(ds.n).toBe(n);
      expect([ds.height, ds.width, ds.channels]).toEqual([28, 28, 1]);
      expect(ds.images).toBeInstanceOf(Float32Array);
      expect(ds.images.length).toBe(n * 28 * 28);
      expect(ds.labels.length).toBe(n);
      expect(ds.classNames).toEqual(FASHION_MNIST_CLASS_NAMES);
      expect(ds.source).toBe(FASHION_DIR);
      expect(Array.from(ds.labels.subarray(0, 10))).toEqual(first);
      const histogram = new Array(10).fill(0);
      for (const l of ds.labels) histogram[l]++;
      expect(histogram).toEqual(new Array(10).fill(n / 10));
      let min = Infinity;
      let max = -Infinity;
      let sum = 0;
      for (const v of ds.images) {
        if (v < min) min = v;
        if (v > max) max = v;
        sum += v;
      }
      expect(min).toBe(0);
      expect(max).toBe(1);
      const mean = sum / ds.images.length;
      expect(mean).toBeGreaterThan(0.27); // Fashion-MNIST's pixel mean is about 0.286
      expect(mean).toBeLessThan(0.3);
    }
  });

  itReal('is found in the system folder by the default search', () => {
    expect(findDataset('fashion-mnist', { env: {}, cacheDir: tmp.dir })).toBe(FASHION_DIR);
  });

  itReal('honours limit and picks one test image per class', async () => {
    const ds = await loadDataset('fashion-mnist', 'test', { dataDir: FASHION_DIR, download: false, limit: 1000 });
    expect(ds.n).toBe(1000);
    expect(ds.images.length).toBe(1000 * 784);
    const picks = onePerClass(ds.labels);
    expect(picks).toHaveLength(10);
    picks.forEach((idx, c) => {
      expect(ds.labels[idx]).toBe(c);
      expect(Array.from(ds.labels.subarray(0, idx))).not.toContain(c);
    });
    // test labels start 9, 2, 1, 1, 6, 1, 4, 6, 5, 7
    expect([picks[9], picks[2], picks[1], picks[6], picks[4], picks[5], picks[7]]).toEqual([0, 1, 2, 4, 6, 8, 9]);
  });
});

describe('loadDatasetFromDir on generated files', () => {
  it.each([
    ['raw', false],
    ['gzip', true],
  ])('loads %s files exactly: pixel = byte / 255', (_kind, gzip) => {
    writeSplit(tmp.dir, 'train', 23, { gzip });
    const ds = loadDatasetFromDir(tmp.dir, 'mnist', 'train');
    expect(ds.n).toBe(23);
    expect(ds.images.length).toBe(23 * 784);
    expect(ds.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(Array.from(ds.labels)).toEqual(Array.from({ length: 23 }, (_, i) => i % 10));
    for (const [i, j] of [
      [0, 0],
      [0, 255],
      [5, 100],
      [22, 783],
    ]) {
      expect(ds.images[i * 784 + j]).toBe(Math.fround(((i * 7 + j) % 256) / 255));
    }
    expect(ds.source).toBe(tmp.dir);
  });

  it('mixes raw and gzip files and prefers the raw one when both exist', () => {
    writeSplit(tmp.dir, 'test', 12, { gzip: true });
    const labels = Uint8Array.from({ length: 12 }, () => 3);
    writeIdx(tmp.path(splitFiles('test').labels), [12], labels); // raw beside the .gz
    const ds = loadDatasetFromDir(tmp.dir, 'fashion-mnist', 'test');
    expect(Array.from(ds.labels)).toEqual(Array.from(labels));
  });

  it('limit keeps the first samples, and a limit over n keeps all', () => {
    writeSplit(tmp.dir, 'train', 15);
    const ds = loadDatasetFromDir(tmp.dir, 'mnist', 'train', { limit: 4 });
    expect(ds.n).toBe(4);
    expect(ds.images.length).toBe(4 * 784);
    expect(Array.from(ds.labels)).toEqual([0, 1, 2, 3]);
    expect(loadDatasetFromDir(tmp.dir, 'mnist', 'train', { limit: 1000 }).n).toBe(15);
  });

  it('rejects a bad limit, name or split with InvalidArgumentError quoting the parameter', async () => {
    writeSplit(tmp.dir, 'train', 3);
    for (const limit of [0, -1, 1.5, NaN]) {
      expect(() => loadDatasetFromDir(tmp.dir, 'mnist', 'train', { limit })).toThrow(InvalidArgumentError);
      await expect(loadDataset('mnist', 'train', { dataDir: tmp.dir, limit })).rejects.toThrow(/'limit' must be a positive integer/);
    }
    expect(() => loadDatasetFromDir(tmp.dir, 'cifar' as 'mnist', 'train')).toThrow(/'name' must be one of 'fashion-mnist', 'mnist', got 'cifar'/);
    await expect(loadDataset('mnist', 'val' as 'train', { dataDir: tmp.dir })).rejects.toThrow(/'split' must be one of 'train', 'test', got 'val'/);
  });

  it('image and label counts that disagree', () => {
    writeSplit(tmp.dir, 'train', 10, { labels: new Uint8Array(9) });
    expectDataError(
      () => loadDatasetFromDir(tmp.dir, 'mnist', 'train'),
      /train-images-idx3-ubyte holds 10 images but .*train-labels-idx1-ubyte holds 9 labels/,
      'do not belong together',
    );
  });

  it('a label outside [0, 10)', () => {
    writeSplit(tmp.dir, 'train', 5, { labels: Uint8Array.from([0, 1, 2, 10, 4]) });
    expectDataError(() => loadDatasetFromDir(tmp.dir, 'mnist', 'train'), /train-labels-idx1-ubyte has label 10 at index 3, outside \[0, 10\)/);
  });

  it('images that are not 28×28', () => {
    writeSplit(tmp.dir, 'test', 5, { hw: 32 });
    expectDataError(() => loadDatasetFromDir(tmp.dir, 'mnist', 'test'), /t10k-images-idx3-ubyte holds an array of shape 5×32×32, expected N×28×28/);
  });

  it('a missing file names the folder', () => {
    writeSplit(tmp.dir, 'train', 5);
    fs.rmSync(tmp.path(splitFiles('train').labels));
    expectDataError(() => loadDatasetFromDir(tmp.dir, 'mnist', 'train'), `${tmp.dir} holds neither train-labels-idx1-ubyte nor train-labels-idx1-ubyte.gz`);
  });

  it('a corrupt file found in the cache or the system folder suggests the matching fix', async () => {
    const cacheDir = tmp.path('cache');
    const systemDir = tmp.path('system');
    const env = {};
    for (const root of [cacheDir, systemDir]) {
      writeSplit(path.join(root, 'fashion-mnist'), 'test', 5, { gzip: true });
      fs.writeFileSync(path.join(root, 'fashion-mnist', 't10k-images-idx3-ubyte.gz'), 'garbage');
    }
    await expect(loadDataset('fashion-mnist', 'test', { cacheDir, systemDir, env, download: false })).rejects.toThrow(
      /cache\/fashion-mnist\/t10k-images-idx3-ubyte\.gz is named \.gz but is not gzip data.*; delete it and run again to re-download, or pass --data DIR/,
    );
    fs.rmSync(path.join(cacheDir, 'fashion-mnist'), { recursive: true });
    await expect(loadDataset('fashion-mnist', 'test', { cacheDir, systemDir, env, download: false })).rejects.toThrow(
      /system\/fashion-mnist\/t10k-images-idx3-ubyte\.gz .*; reinstall the Debian package dataset-fashion-mnist/,
    );
  });
});

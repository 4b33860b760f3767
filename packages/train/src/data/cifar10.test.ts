/**
 * CIFAR-10 on generated files in its binary format (the real data is not
 * available offline): the search order, reading a split, and the download
 * of the official archive (a .tar.gz made by the system's `tar`, served by a
 * local mirror) with its checksum, extraction and clean-up.
 */
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDirPerTest } from '@lip/test-support';
import { cifarBatch, startMirror } from '@lip/test-support/data';
import { DataError } from '../errors';
import { CIFAR10_ARCHIVE, CIFAR10_CLASS_NAMES, loadCifar10, locateCifar10 } from './cifar10';
import { DATASET_PROVIDERS } from './registry';
import { extractTarGz } from './tar';

const RECORD = 1 + 3 * 32 * 32;

const tmp = tmpDirPerTest('cifar');

/** Record r of batch b: label (b + r) % 10, channel c of pixel p = (b * 31 + r * 7 + c * 50 + p) % 256. */
function batch(b: number, records: number): Buffer {
  const labels = Array.from({ length: records }, (_, r) => (b + r) % 10);
  return Buffer.from(cifarBatch(labels, (r, c, y, x) => (b * 31 + r * 7 + c * 50 + y * 32 + x) % 256));
}

/** `cifar-10-batches-bin/` under `root`: data_batch_1..2 (3 and 4 records), test_batch (5, numbered 9), batches.meta.txt. */
function writeCifar(root: string, meta = true): string {
  const dir = path.join(root, 'cifar-10-batches-bin');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), batch(1, 3));
  fs.writeFileSync(path.join(dir, 'data_batch_2.bin'), batch(2, 4));
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), batch(9, 5));
  if (meta) fs.writeFileSync(path.join(dir, 'batches.meta.txt'), `${CIFAR10_CLASS_NAMES.join('\n')}\n\n`);
  return dir;
}

const noDownload = (extra: object = {}): object => ({
  cacheDir: tmp.path('cache'),
  systemDir: tmp.path('system'),
  env: {},
  download: false,
  ...extra,
});

test('reads both splits, channel planes to NHWC, with the class names', async () => {
  writeCifar(tmp.path('data'));
  const train = await loadCifar10('train', noDownload({ dataDir: tmp.path('data') }));
  expect([train.n, train.height, train.width, train.channels]).toEqual([7, 32, 32, 3]);
  // batch 1's 3 records, then batch 2's 4
  expect(Array.from(train.labels)).toEqual([1, 2, 3, 2, 3, 4, 5]);
  // record 1 of batch 2 (image 4), pixel p = 5 (row 0, column 5), channel c: (2*31 + 7 + 50c + 5) % 256 / 255
  for (let c = 0; c < 3; c++) expect(train.images[(4 * 1024 + 5) * 3 + c]).toBeCloseTo(((62 + 7 + 50 * c + 5) % 256) / 255, 6);
  expect(train.classNames).toEqual(CIFAR10_CLASS_NAMES);
  const test = await loadCifar10('test', noDownload({ dataDir: tmp.path('data'), limit: 2 }));
  expect(test.n).toBe(2);
  expect(Array.from(test.labels)).toEqual([9, 0]);
  // The provider behind train({ dataset: 'cifar10' }) and `lip train --data cifar10`.
  const provider = DATASET_PROVIDERS.get('cifar10')!;
  expect(provider.inputShape).toEqual([32, 32, 3]);
  expect((await provider.load('test', noDownload({ dataDir: tmp.path('data') }) as never)).n).toBe(5);
});

test('search order: dataDir, $LIP_DATA_DIR/cifar10, the cache, the system folder; one error listing them', async () => {
  const env = tmp.path('env');
  writeCifar(path.join(env, 'cifar10'));
  writeCifar(tmp.path('system', 'cifar10'));
  expect(await locateCifar10(noDownload({ env: { LIP_DATA_DIR: env } }))).toBe(path.join(env, 'cifar10'));
  expect(await locateCifar10(noDownload())).toBe(tmp.path('system', 'cifar10'));
  fs.rmSync(tmp.path('system'), { recursive: true });
  const err = await locateCifar10(noDownload()).catch((e: Error) => e);
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).toMatch(/^CIFAR-10 not found\. Searched:\n {2}\$LIP_DATA_DIR: not set\n/);
  expect((err as Error).message).toContain(`${tmp.path('cache', 'cifar10')} (cache): no such folder`);
  expect((err as Error).message).toContain('Downloading is off');
  // --data must hold it
  fs.mkdirSync(tmp.path('empty'));
  await expect(locateCifar10(noDownload({ dataDir: tmp.path('empty') }))).rejects.toThrow(
    `--data ${tmp.path('empty')} does not hold CIFAR-10: missing data_batch_<k>.bin, test_batch.bin (directly or in cifar-10-batches-bin/)`,
  );
});

/** The official archive's layout, made by the system's tar: cifar-10-batches-bin/ with the batches, and a file lip ignores. */
function archive(): Buffer {
  const src = tmp.path('src');
  const dir = writeCifar(src);
  fs.writeFileSync(path.join(dir, 'readme.html'), '<html></html>');
  const file = tmp.path(CIFAR10_ARCHIVE);
  execFileSync('tar', ['czf', file, '-C', src, 'cifar-10-batches-bin']);
  return fs.readFileSync(file);
}

describe('download (local mirror on 127.0.0.1)', () => {
  test('checks the md5, extracts the batches into the cache, removes the archive; the next run finds the cache', async () => {
    const body = archive();
    const md5 = crypto.createHash('md5').update(body).digest('hex');
    const mirror = await startMirror({ [CIFAR10_ARCHIVE]: body });
    try {
      const opts = { cacheDir: tmp.path('cache'), systemDir: tmp.path('system'), env: {}, mirror: mirror.url, checksums: { [CIFAR10_ARCHIVE]: md5 } };
      const test = await loadCifar10('test', opts);
      expect(test.n).toBe(5);
      expect(test.classNames).toEqual(CIFAR10_CLASS_NAMES);
      const bin = tmp.path('cache', 'cifar10', 'cifar-10-batches-bin');
      expect(fs.readdirSync(bin).sort()).toEqual(['batches.meta.txt', 'data_batch_1.bin', 'data_batch_2.bin', 'test_batch.bin']);
      expect(fs.readFileSync(path.join(bin, 'data_batch_2.bin')).equals(batch(2, 4))).toBe(true);
      expect(fs.readdirSync(tmp.path('cache', 'cifar10'))).toEqual(['cifar-10-batches-bin']);
      expect((await loadCifar10('train', opts)).n).toBe(7);
      expect(mirror.requests).toEqual([CIFAR10_ARCHIVE]);
    } finally {
      await mirror.close();
    }
  });

  test('a checksum mismatch is one DataError naming the archive, and leaves nothing behind', async () => {
    const mirror = await startMirror({ [CIFAR10_ARCHIVE]: archive() });
    try {
      const opts = { cacheDir: tmp.path('cache'), systemDir: tmp.path('system'), env: {}, mirror: mirror.url };
      const err = await loadCifar10('train', opts).catch((e: Error) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `could not download ${mirror.url}${CIFAR10_ARCHIVE}: checksum mismatch: md5 of the \\d+ bytes received is [0-9a-f]{32}, expected c32a1d4ab5d03f1284b67883e8d87530`,
        ),
      );
      expect(fs.readdirSync(tmp.path('cache', 'cifar10'))).toEqual([]);
    } finally {
      await mirror.close();
    }
  });
});

test('extractTarGz: a truncated archive is a DataError, and no partial file is written', async () => {
  const body = archive();
  const cut = tmp.path('cut.tar.gz');
  fs.writeFileSync(cut, body.subarray(0, Math.floor(body.length / 2)));
  const out = tmp.path('out');
  await expect(extractTarGz(cut, (name) => path.join(out, path.basename(name)), { fix: 'download it again' })).rejects.toThrow(
    new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (cannot be extracted|is truncated).*; download it again$`),
  );
  const left = fs.existsSync(out) ? fs.readdirSync(out) : [];
  // Entries before the cut are whole; none is partly written.
  for (const name of left) expect(fs.statSync(path.join(out, name)).size % RECORD === 0 || name === 'batches.meta.txt').toBe(true);
  expect(left.some((n) => n.startsWith('.'))).toBe(false);
});

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as zlib from 'zlib';
import { listFiles, rejectionOf, tmpDirPerTest } from '@lip/test-support';
import { type Mirror, startMirror, writeIdxSplit } from '@lip/test-support/data';
import { DataError, InvalidArgumentError } from '../errors';
import { DATASETS, splitFiles } from './datasets';
import { DownloadProgress, downloadFile } from './download';
import { encodeIdx } from './idx';
import { loadDataset } from './load';
import { datasetCacheDir, findDataset, locateDataset } from './locate';

const tmp = tmpDirPerTest('locate');

/** Writes both splits (n samples each, label i % 10) into `dir`. */
function writeDataset(dir: string, n = 10): void {
  for (const split of ['train', 'test'] as const) writeIdxSplit(dir, { split, n, gzip: true, images: new Uint8Array(n * 784).fill(128) });
}

describe('search order', () => {
  it('dataDir beats $LIP_DATA_DIR beats the cache beats the system folder', async () => {
    const dataDir = tmp.path('data');
    const envDir = tmp.path('env');
    const cacheDir = tmp.path('cache');
    const systemDir = tmp.path('system');
    writeDataset(dataDir);
    writeDataset(envDir);
    writeDataset(path.join(cacheDir, 'fashion-mnist'));
    writeDataset(path.join(systemDir, 'fashion-mnist'));
    const env = { LIP_DATA_DIR: envDir };
    const base = { cacheDir, systemDir, download: false };

    expect(await locateDataset('fashion-mnist', { ...base, env, dataDir })).toBe(dataDir);
    expect(await locateDataset('fashion-mnist', { ...base, env })).toBe(envDir);
    expect(findDataset('fashion-mnist', { ...base, env })).toBe(envDir);
    fs.rmSync(path.join(envDir, 't10k-labels-idx1-ubyte.gz'));
    expect(await locateDataset('fashion-mnist', { ...base, env })).toBe(path.join(cacheDir, 'fashion-mnist'));
    fs.rmSync(path.join(cacheDir, 'fashion-mnist'), { recursive: true });
    expect(await locateDataset('fashion-mnist', { ...base, env })).toBe(path.join(systemDir, 'fashion-mnist'));
    // the train split alone is still complete in $LIP_DATA_DIR
    expect(await locateDataset('fashion-mnist', { ...base, env, split: 'train' })).toBe(envDir);
    const ds = await loadDataset('fashion-mnist', 'test', { ...base, env });
    expect(ds.source).toBe(path.join(systemDir, 'fashion-mnist'));
    expect(ds.n).toBe(10);
  });

  it('$LIP_DATA_DIR/<name> comes before $LIP_DATA_DIR itself', async () => {
    const root = tmp.path('root');
    writeDataset(root);
    writeDataset(path.join(root, 'mnist'));
    const opts = { cacheDir: tmp.path('cache'), systemDir: tmp.path('system'), download: false, env: { LIP_DATA_DIR: root } };
    expect(await locateDataset('mnist', opts)).toBe(path.join(root, 'mnist'));
    expect(await locateDataset('fashion-mnist', opts)).toBe(root);
  });

  it('reads the cache root from $LIP_CACHE_DIR, then $XDG_CACHE_HOME/lip, then ~/.cache/lip', () => {
    expect(datasetCacheDir('mnist', { env: { LIP_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' } })).toBe('/c/mnist');
    expect(datasetCacheDir('mnist', { env: { XDG_CACHE_HOME: '/x', HOME: '/h' } })).toBe('/x/lip/mnist');
    expect(datasetCacheDir('mnist', { env: { HOME: '/h' } })).toBe('/h/.cache/lip/mnist');
    expect(datasetCacheDir('mnist', { cacheDir: '/o', env: { LIP_CACHE_DIR: '/c' } })).toBe('/o/mnist');
  });

  it('a split needs only its own two files', async () => {
    const systemDir = tmp.path('system');
    const dir = path.join(systemDir, 'mnist');
    writeDataset(dir);
    fs.rmSync(path.join(dir, 'train-images-idx3-ubyte.gz'));
    const opts = { cacheDir: tmp.path('cache'), systemDir, download: false, env: {} };
    expect(await locateDataset('mnist', { ...opts, split: 'test' })).toBe(dir);
    expect(findDataset('mnist', opts)).toBeUndefined();
    expect((await loadDataset('mnist', 'test', opts)).n).toBe(10);
  });

  it('a dataDir without the files is an error, with no fallback elsewhere', async () => {
    const systemDir = tmp.path('system');
    writeDataset(path.join(systemDir, 'fashion-mnist'));
    const dataDir = tmp.path('empty');
    fs.mkdirSync(dataDir);
    const err = await rejectionOf(locateDataset('fashion-mnist', { dataDir, systemDir, env: {} }));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain(`--data ${dataDir} does not hold fashion-mnist: missing train-images-idx3-ubyte[.gz]`);
    expect(err.message).toContain('leave out --data');
    expect(() => findDataset('fashion-mnist', { dataDir: tmp.path('nope'), env: {} })).toThrow(/no such folder/);
  });

  it('when nothing is found and downloading is off, the error lists every place searched', async () => {
    const cacheDir = tmp.path('cache');
    const systemDir = tmp.path('system');
    const envDir = tmp.path('env');
    fs.mkdirSync(path.join(systemDir, 'fashion-mnist'), { recursive: true });
    fs.writeFileSync(path.join(systemDir, 'fashion-mnist', 'train-images-idx3-ubyte.gz'), '');
    for (const env of [{}, { LIP_DATA_DIR: envDir }]) {
      const err = await rejectionOf(locateDataset('fashion-mnist', { cacheDir, systemDir, env, download: false }));
      expect(err).toBeInstanceOf(DataError);
      const lines = err.message.split('\n');
      expect(lines[0]).toBe('fashion-mnist not found. Searched:');
      const expected = [
        ...('LIP_DATA_DIR' in env
          ? [`  ${envDir}/fashion-mnist ($LIP_DATA_DIR/<name>): no such folder`, `  ${envDir} ($LIP_DATA_DIR): no such folder`]
          : ['  $LIP_DATA_DIR: not set']),
        `  ${cacheDir}/fashion-mnist (cache): no such folder`,
        `  ${systemDir}/fashion-mnist (system): missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]`,
      ];
      expect(lines.slice(1, -1)).toEqual(expected);
      expect(lines[lines.length - 1]).toBe(
        'Downloading is off. To fix: install the Debian package dataset-fashion-mnist, set LIP_DATA_DIR to a folder holding the IDX files, or pass --data DIR, or allow the download.',
      );
    }
    const mnist = await rejectionOf(loadDataset('mnist', 'test', { cacheDir, systemDir, env: {}, download: false }));
    expect(mnist.message).toMatch(/^mnist \(test split\) not found/);
    expect(mnist.message).not.toContain('Debian');
  });
});

/** The four gzip files of a small fake dataset, as a mirror serves them, and their md5s. */
function fakeMirrorFiles(n = 20): { files: Record<string, Uint8Array>; md5: Record<string, string> } {
  const files: Record<string, Uint8Array> = {};
  for (const split of ['train', 'test'] as const) {
    const f = splitFiles(split);
    const pixels = Uint8Array.from({ length: n * 784 }, (_, i) => (i * 13) % 256);
    files[`${f.images}.gz`] = zlib.gzipSync(encodeIdx([n, 28, 28], pixels));
    files[`${f.labels}.gz`] = zlib.gzipSync(
      encodeIdx(
        [n],
        Uint8Array.from({ length: n }, (_, i) => (i * 3) % 10),
      ),
    );
  }
  const md5: Record<string, string> = {};
  for (const [name, body] of Object.entries(files)) md5[name] = crypto.createHash('md5').update(body).digest('hex');
  return { files, md5 };
}

describe('download from a mirror (local server on 127.0.0.1)', () => {
  let mirror: Mirror | undefined;
  afterEach(async () => {
    await mirror?.close();
    mirror = undefined;
  });

  function opts(extra: Record<string, unknown> = {}) {
    return { cacheDir: tmp.path('cache'), systemDir: tmp.path('system'), env: {}, timeoutMs: 2000, ...extra };
  }

  it('downloads into the cache with md5 checks, reports progress, and then loads', async () => {
    const { files, md5 } = fakeMirrorFiles();
    mirror = await startMirror(files);
    const progress: DownloadProgress[] = [];
    const o = opts({ env: { LIP_DATA_MIRROR: mirror.url }, checksums: md5, onProgress: (p: DownloadProgress) => progress.push(p) });
    const dir = await locateDataset('fashion-mnist', o);
    expect(dir).toBe(tmp.path('cache', 'fashion-mnist'));
    expect(listFiles(dir)).toEqual(Object.keys(files).sort());
    for (const [name, body] of Object.entries(files)) {
      expect(Buffer.from(fs.readFileSync(path.join(dir, name))).equals(Buffer.from(body))).toBe(true);
    }
    const last = progress.filter((p) => p.url.endsWith('/t10k-images-idx3-ubyte.gz')).pop()!;
    expect(last.receivedBytes).toBe(files['t10k-images-idx3-ubyte.gz']!.length);
    expect(last.totalBytes).toBe(last.receivedBytes);
    expect(last.file).toBe(path.join(dir, 't10k-images-idx3-ubyte.gz'));

    const ds = await loadDataset('fashion-mnist', 'test', o);
    expect(ds.source).toBe(dir);
    expect(ds.n).toBe(20);
    expect(Array.from(ds.labels.subarray(0, 4))).toEqual([0, 3, 6, 9]);
    expect(mirror.requests).toHaveLength(4); // the second call found the cache
  });

  it('beforeDownload holds the download until it resolves (lip verify: until the model has been read)', async () => {
    const { files, md5 } = fakeMirrorFiles();
    mirror = await startMirror(files);
    let release = (): void => undefined;
    const located = locateDataset(
      'mnist',
      opts({ mirror: mirror.url, checksums: md5, split: 'test', beforeDownload: new Promise<void>((r) => (release = r)) }),
    );
    // Several turns of the event loop: no request while the gate is closed.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(mirror.requests).toEqual([]);
    release();
    expect(await located).toBe(tmp.path('cache', 'mnist'));
    expect(mirror.requests.sort()).toEqual(['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
  });

  it('downloads only the missing files of the split asked for', async () => {
    const { files, md5 } = fakeMirrorFiles();
    mirror = await startMirror(files);
    const cached = tmp.path('cache', 'mnist');
    fs.mkdirSync(cached, { recursive: true });
    fs.writeFileSync(path.join(cached, 't10k-labels-idx1-ubyte.gz'), files['t10k-labels-idx1-ubyte.gz']!);
    const ds = await loadDataset('mnist', 'test', opts({ mirror: mirror.url, checksums: md5 }));
    expect(ds.n).toBe(20);
    expect(mirror.requests).toEqual(['t10k-images-idx3-ubyte.gz']);
  });

  it('follows redirects', async () => {
    const { files, md5 } = fakeMirrorFiles();
    const body = files['t10k-labels-idx1-ubyte.gz']!;
    mirror = await startMirror({ ...files, 'moved-t10k-labels-idx1-ubyte.gz': body }, { 't10k-labels-idx1-ubyte.gz': 'redirect' });
    const dest = tmp.path('dl', 'labels.gz');
    await downloadFile(`${mirror.url}t10k-labels-idx1-ubyte.gz`, dest, { md5: md5['t10k-labels-idx1-ubyte.gz']! });
    expect(Buffer.from(fs.readFileSync(dest)).equals(Buffer.from(body))).toBe(true);
    expect(mirror.requests).toEqual(['t10k-labels-idx1-ubyte.gz', 'moved-t10k-labels-idx1-ubyte.gz']);
  });

  it('a corrupted download fails the checksum and leaves nothing in the cache', async () => {
    const { files, md5 } = fakeMirrorFiles();
    const bad = Uint8Array.from(files['train-images-idx3-ubyte.gz']!);
    bad[bad.length - 20] ^= 0xff;
    mirror = await startMirror({ ...files, 'train-images-idx3-ubyte.gz': bad });
    const err = await rejectionOf(locateDataset('fashion-mnist', opts({ mirror: mirror.url, checksums: md5, split: 'train' })));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain(`could not download ${mirror.url}train-images-idx3-ubyte.gz: checksum mismatch`);
    expect(err.message).toContain(`expected ${md5['train-images-idx3-ubyte.gz']}`);
    expect(listFiles(tmp.path('cache'))).toEqual([]);
  });

  it('the official checksums are the default: files that differ from the real ones are refused', async () => {
    const { files } = fakeMirrorFiles();
    mirror = await startMirror(files);
    const err = await rejectionOf(locateDataset('mnist', opts({ mirror: mirror.url })));
    expect(err.message).toContain(`expected ${DATASETS.mnist.md5['train-images-idx3-ubyte.gz']}`);
    expect(listFiles(tmp.path('cache'))).toEqual([]);
  });

  it('a server that closes mid-stream leaves nothing', async () => {
    const { files, md5 } = fakeMirrorFiles(200);
    mirror = await startMirror(files, { 'train-labels-idx1-ubyte.gz': 'cut' });
    const err = await rejectionOf(locateDataset('fashion-mnist', opts({ mirror: mirror.url, checksums: md5 })));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/could not download http:\/\/127\.0\.0\.1:\d+\/mirror\/train-labels-idx1-ubyte\.gz: the connection closed/);
    // the file before it is complete and verified; the cut one left no trace
    expect(listFiles(tmp.path('cache'))).toEqual(['fashion-mnist/train-images-idx3-ubyte.gz']);
  });

  it('a stalled server times out with one error naming the URL and the fix', async () => {
    const { files, md5 } = fakeMirrorFiles();
    mirror = await startMirror(files, { 'train-images-idx3-ubyte.gz': 'stall' });
    const started = Date.now();
    const err = await rejectionOf(locateDataset('fashion-mnist', opts({ mirror: mirror.url, checksums: md5, timeoutMs: 300 })));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain(`could not download ${mirror.url}train-images-idx3-ubyte.gz: no data for 0.3 s (timed out)`);
    expect(err.message).toContain('install the Debian package dataset-fashion-mnist, set LIP_DATA_DIR to a folder holding the IDX files, or pass --data DIR');
    expect(err.message).toContain(`not found in $LIP_DATA_DIR, ${tmp.dir}/cache/fashion-mnist (cache), ${tmp.dir}/system/fashion-mnist (system)`);
    expect(listFiles(tmp.path('cache'))).toEqual([]);
  });

  it('connection refused and HTTP errors name the URL', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const refused = await rejectionOf(locateDataset('fashion-mnist', opts({ mirror: `http://127.0.0.1:${port}` })));
    expect(refused).toBeInstanceOf(DataError);
    expect(refused.message).toContain(`could not download http://127.0.0.1:${port}/train-images-idx3-ubyte.gz: connection refused`);
    expect(refused.message).toContain('pass --data DIR');

    const { files, md5 } = fakeMirrorFiles();
    mirror = await startMirror(files, { 'train-images-idx3-ubyte.gz': '404' });
    const notFound = await rejectionOf(locateDataset('fashion-mnist', opts({ mirror: mirror.url, checksums: md5 })));
    expect(notFound.message).toContain(`could not download ${mirror.url}train-images-idx3-ubyte.gz: the server answered HTTP 404 Not Found`);
    expect(listFiles(tmp.path('cache'))).toEqual([]);
  });

  it('never downloads when a local folder holds the data, and rejects a checksum table without the file', async () => {
    const { files, md5 } = fakeMirrorFiles();
    mirror = await startMirror(files);
    writeDataset(tmp.path('system', 'mnist'));
    expect(await locateDataset('mnist', opts({ mirror: mirror.url }))).toBe(tmp.path('system', 'mnist'));
    expect(mirror.requests).toEqual([]);
    const partial = { ...md5 };
    delete partial['t10k-images-idx3-ubyte.gz'];
    await expect(locateDataset('fashion-mnist', opts({ mirror: mirror.url, checksums: partial, split: 'test' }))).rejects.toThrow(InvalidArgumentError);
  });

  it('removes the temp file a killed download left behind', async () => {
    const { files, md5 } = fakeMirrorFiles();
    mirror = await startMirror(files);
    const dir = tmp.path('dl');
    fs.mkdirSync(dir);
    const stale = path.join(dir, '.labels.gz.2147483646.deadbeef.part'); // no such process
    const live = path.join(dir, `.labels.gz.${process.pid}.cafebabe.part`); // a download in progress
    fs.writeFileSync(stale, 'half');
    fs.writeFileSync(live, 'half');
    await downloadFile(`${mirror.url}t10k-labels-idx1-ubyte.gz`, path.join(dir, 'labels.gz'), { md5: md5['t10k-labels-idx1-ubyte.gz']! });
    expect(listFiles(dir)).toEqual([path.basename(live), 'labels.gz']);
  });
});

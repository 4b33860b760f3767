/**
 * The bound cache (./cache.ts): a hit gives the bound that was computed, bit
 * for bit; any other file, option or entry is a miss that recomputes and
 * rewrites; a cache that cannot be read or written never fails the bound.
 */
import { createHash } from 'crypto';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDirPerTest } from '@lip/test-support';
import { writeIdxSplit } from '@lip/test-support/data';
import { ROOT } from '@lip/test-support/files';
import { gemmModel } from '@lip/test-support/onnx';
import { readOnnxModel } from '../onnx/read';
import { verifyModel } from '../verify';
import { boundCacheDir, cachedLipschitzBound, readOnnxModelHashed } from './cache';
import { lipschitzBound } from './lipschitz';

const MARKER = 'cache-test-marker-AAAA';
const model = (): Uint8Array => gemmModel({ seed: 3, metadata: { note: MARKER } });

/** `bytes` with the last character of MARKER changed: one byte of a metadata value, the same graph and weights. */
function withOneByteChanged(bytes: Uint8Array): Uint8Array {
  const at = Buffer.from(bytes).indexOf(MARKER) + MARKER.length - 1;
  expect(at).toBeGreaterThan(MARKER.length);
  const changed = Uint8Array.from(bytes);
  changed[at] = 'B'.charCodeAt(0);
  return changed;
}

const entries = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : []);

describe('cachedLipschitzBound', () => {
  const tmp = tmpDirPerTest('bound-cache');

  it('misses, stores, then hits with the same bound (head weights to the bit)', () => {
    const dir = tmp.path('bounds');
    const { model: m, sha256 } = readOnnxModelHashed(model());
    const first = cachedLipschitzBound(m, sha256, {}, { dir });
    expect(first.cache).toMatchObject({ used: false, stored: true, note: null, sha256 });
    expect(entries(dir)).toHaveLength(1);
    const second = cachedLipschitzBound(m, sha256, {}, { dir });
    expect(second.cache).toMatchObject({ used: true, stored: false, note: null, path: first.cache.path });
    expect(second.bound).toEqual(first.bound);
    expect(second.bound).toEqual(lipschitzBound(m));
    expect(second.bound.head!.weights).toBeInstanceOf(Float64Array);
    expect(Buffer.from(second.bound.head!.weights.buffer).equals(Buffer.from(first.bound.head!.weights.buffer))).toBe(true);
  });

  it('keys by the whole file: one changed byte misses; the options and an equal declared input shape', () => {
    const dir = tmp.path('bounds');
    const bytes = model();
    const a = readOnnxModelHashed(bytes);
    const b = readOnnxModelHashed(withOneByteChanged(bytes));
    expect(b.sha256).not.toBe(a.sha256);
    cachedLipschitzBound(a.model, a.sha256, {}, { dir });
    expect(cachedLipschitzBound(b.model, b.sha256, {}, { dir }).cache.used).toBe(false);
    expect(cachedLipschitzBound(a.model, a.sha256, { exactConv: false }, { dir }).cache.used).toBe(false);
    expect(cachedLipschitzBound(a.model, a.sha256, { limits: { denseWork: 1e4 } }, { dir }).cache.used).toBe(false);
    // The declared input shape bounds the same graph as none: `lip verify` passes it, `lip bound` does not.
    expect(cachedLipschitzBound(a.model, a.sha256, { inputShape: [1, 28, 28] }, { dir }).cache.used).toBe(true);
    expect(entries(dir)).toHaveLength(4);
    for (const opts of [{}, { exactConv: false }, { limits: { denseWork: 1e4 } }]) {
      expect(cachedLipschitzBound(a.model, a.sha256, opts, { dir }).cache.used).toBe(true);
    }
  });

  const corruptions: [string, (text: string, other: string) => string, RegExp][] = [
    ['truncated', (t) => t.slice(0, t.length >> 1), /not valid JSON/],
    ['empty', () => '', /not valid JSON/],
    ['not an entry', () => '[1, 2, 3]', /not a bound cache entry/],
    ['a smaller total, checksum unchanged', (t) => t.replace(/"total":[0-9.e+-]+/, '"total":1e-9'), /checksum does not match/],
    ["another file's entry", (_t, other) => other, /key is another model/],
    [
      'a malformed bound with a matching checksum',
      (t) => {
        const e = JSON.parse(t);
        e.bound.head.weights = 'AAAA';
        e.check = createHash('sha256')
          .update(JSON.stringify([e.key, e.bound]))
          .digest('hex');
        return JSON.stringify(e);
      },
      /bound is malformed/,
    ],
  ];
  it.each(corruptions)('ignores an entry that is %s, recomputes and rewrites it', (_what, corrupt, why) => {
    const dir = tmp.path('bounds');
    const a = readOnnxModelHashed(model());
    const b = readOnnxModelHashed(withOneByteChanged(model()));
    const entry = cachedLipschitzBound(a.model, a.sha256, {}, { dir }).cache.path;
    const other = fs.readFileSync(cachedLipschitzBound(b.model, b.sha256, {}, { dir }).cache.path, 'utf8');
    fs.writeFileSync(entry, corrupt(fs.readFileSync(entry, 'utf8'), other));
    const again = cachedLipschitzBound(a.model, a.sha256, {}, { dir });
    expect(again.cache).toMatchObject({ used: false, stored: true });
    expect(again.cache.note).toMatch(why);
    expect(again.bound).toEqual(lipschitzBound(a.model));
    const healed = cachedLipschitzBound(a.model, a.sha256, {}, { dir });
    expect(healed.cache).toMatchObject({ used: true, note: null });
  });

  it('a cache folder that cannot be made or written: the bound is computed, the reason reported, nothing thrown', () => {
    const blocker = tmp.put('not-a-folder', 'x');
    const { model: m, sha256 } = readOnnxModelHashed(model());
    const r = cachedLipschitzBound(m, sha256, {}, { dir: path.join(blocker, 'bounds') });
    expect(r.cache).toMatchObject({ used: false, stored: false });
    expect(r.cache.note).toMatch(/cannot write the bound cache .*not-a-folder/);
    expect(r.bound).toEqual(lipschitzBound(m));
  });

  (process.getuid?.() === 0 ? it.skip : it)('a read-only cache folder: computed, reported, still readable once filled', () => {
    const dir = tmp.path('bounds');
    const { model: m, sha256 } = readOnnxModelHashed(model());
    const other = readOnnxModelHashed(withOneByteChanged(model()));
    cachedLipschitzBound(m, sha256, {}, { dir });
    fs.chmodSync(dir, 0o555);
    try {
      const r = cachedLipschitzBound(other.model, other.sha256, {}, { dir });
      expect(r.cache).toMatchObject({ used: false, stored: false });
      expect(r.cache.note).toMatch(/cannot write the bound cache/);
      expect(cachedLipschitzBound(m, sha256, {}, { dir }).cache.used).toBe(true);
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  });

  it('never opens a FIFO at the entry path (reading or writing it would block)', () => {
    const dir = tmp.path('bounds');
    const { model: m, sha256 } = readOnnxModelHashed(model());
    const entry = cachedLipschitzBound(m, sha256, {}, { dir }).cache.path;
    fs.rmSync(entry);
    expect(spawnSync('mkfifo', [entry]).status).toBe(0);
    const r = cachedLipschitzBound(m, sha256, {}, { dir });
    expect(r.cache).toMatchObject({ used: false, stored: false });
    expect(r.cache.note).toMatch(/not a regular file/);
    expect(fs.statSync(entry).isFIFO()).toBe(true);
  });
});

describe('readOnnxModelHashed and boundCacheDir', () => {
  it('hashes the file as it is on disk and folds the model as readOnnxModel does', () => {
    const file = path.join(ROOT, 'models/fashion-mnist-ortho.onnx');
    const { model: m, sha256 } = readOnnxModelHashed(file);
    expect(sha256).toBe(createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
    const plain = readOnnxModel(file);
    expect(m.source).toBe(file);
    expect(m.folding).toEqual(plain.folding);
    expect(Buffer.from(m.bytes).equals(Buffer.from(plain.bytes))).toBe(true);
  });

  it('$LIP_CACHE_DIR/bounds, else $XDG_CACHE_HOME/lip/bounds, else $HOME/.cache/lip/bounds', () => {
    expect(boundCacheDir({ LIP_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe(path.join('/c', 'bounds'));
    expect(boundCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe(path.join('/x', 'lip', 'bounds'));
    expect(boundCacheDir({ HOME: '/h' })).toBe(path.join('/h', '.cache', 'lip', 'bounds'));
  });
});

describe('verifyModel with the bound cache', () => {
  const tmp = tmpDirPerTest('verify-bound-cache');

  it('reports a miss, then a hit with the same certificates; off by default, writing nothing', async () => {
    const data = tmp.path('data');
    writeIdxSplit(data, { n: 20 });
    const dir = tmp.path('bounds');
    const bytes = model();
    const off = await verifyModel(bytes, { data });
    expect(off.boundCache).toBeNull();
    expect(fs.existsSync(dir)).toBe(false);
    const miss = await verifyModel(bytes, { data, boundCache: { dir } });
    expect(miss.boundCache).toMatchObject({ used: false, stored: true, sha256: createHash('sha256').update(bytes).digest('hex') });
    const hit = await verifyModel(bytes, { data, boundCache: { dir } });
    expect(hit.boundCache).toMatchObject({ used: true });
    expect(hit.lipschitzBound).toBe(off.lipschitzBound);
    expect(hit.headBodyLipschitz).toBe(off.headBodyLipschitz);
    expect(hit.details.certificates).toEqual(off.details.certificates);
    expect(hit.warnings).toEqual(off.warnings);
  });
});

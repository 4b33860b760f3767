/**
 * Fuzzes the IDX reader and the data set loader with mutated valid files
 * (byte flips, truncation, insertions, header edits: magic, dtype, rank and
 * dims including huge ones; raw and gzip). Every case must load or throw a
 * LipError (`exitCode` defined) quickly, without a large allocation.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import fc from 'fast-check';
import { DataError } from '@lip/train';
import { DEFAULT_MAX_IDX_BYTES, loadDatasetFromDir, readIdx } from '@lip/train/node';
import { seededBytes, tmpDirPerSuite } from '@lip/test-support';
import { writeIdxSplit } from '@lip/test-support/data';

/** Cases per family (four families); LIP_FUZZ_RUNS overrides it for a longer local run. */
const RUNS = Number(process.env.LIP_FUZZ_RUNS ?? 100);
const CASE_LIMIT_MS = 2000;
const FAMILY_LIMIT_MS = Number(process.env.LIP_FUZZ_MS ?? 15_000);
const params = { numRuns: RUNS, interruptAfterTimeLimit: FAMILY_LIMIT_MS, seed: Number(process.env.LIP_FUZZ_SEED ?? 20240607) } as const;

const tmp = tmpDirPerSuite('idx-fuzz');
const valid = tmp.path('valid');
let files: { images: string; labels: string };
let raw: { images: Uint8Array; labels: Uint8Array };
let casesRun = 0;

beforeAll(() => {
  files = writeIdxSplit(valid, { n: 6 });
  raw = { images: fs.readFileSync(files.images), labels: fs.readFileSync(files.labels) };
});

afterAll(() => {
  process.stdout.write(`idx fuzz: ${casesRun} mutated data folders checked\n`);
});

/**
 * Writes the mutated images or labels file (raw, or gzip of the mutated
 * bytes, or mutated gzip bytes) next to an intact partner, then loads the
 * folder and reads the file alone.
 */
function check(which: 'images' | 'labels', bytes: Uint8Array, gzip: 'none' | 'before' | 'after'): void {
  casesRun++;
  const dir = fs.mkdtempSync(tmp.path('case-'));
  const other = which === 'images' ? 'labels' : 'images';
  const base = path.basename(files[which]);
  let out = bytes;
  if (gzip === 'before') out = zlib.gzipSync(bytes);
  fs.writeFileSync(path.join(dir, gzip === 'none' ? base : `${base}.gz`), out);
  fs.writeFileSync(path.join(dir, path.basename(files[other])), raw[other]);
  const heapBefore = process.memoryUsage().arrayBuffers;
  const t0 = Date.now();
  for (const f of [() => loadDatasetFromDir(dir, 'mnist', 'test'), () => readIdx(path.join(dir, gzip === 'none' ? base : `${base}.gz`))]) {
    try {
      f();
    } catch (err) {
      if (!(err instanceof Error && typeof (err as { exitCode?: unknown }).exitCode === 'number')) {
        throw new Error(`unclean failure: ${(err as Error)?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack}`);
      }
      expect(err).toBeInstanceOf(DataError);
    }
  }
  const ms = Date.now() - t0;
  if (ms > CASE_LIMIT_MS) throw new Error(`a mutated IDX file took ${ms} ms (limit ${CASE_LIMIT_MS} ms)`);
  // Nothing near the file's declared size stays allocated (the valid files are a few KB).
  expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(64 * 2 ** 20);
  fs.rmSync(dir, { recursive: true, force: true });
}

const which = fc.constantFrom<'images' | 'labels'>('images', 'labels');
const gzipMode = fc.constantFrom<'none' | 'before' | 'after'>('none', 'before', 'after');
const frac = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const at = (f: number, n: number): number => Math.min(Math.max(n - 1, 0), Math.floor(f * n));

/** The file's bytes as stored: gzip 'after' mutates the compressed stream itself. */
function stored(w: 'images' | 'labels', gzip: 'none' | 'before' | 'after'): Uint8Array {
  return gzip === 'after' ? zlib.gzipSync(raw[w]) : Uint8Array.from(raw[w]);
}
function finish(bytes: Uint8Array, gzip: 'none' | 'before' | 'after'): { bytes: Uint8Array; gzip: 'none' | 'before' | 'after' } {
  // Already-compressed mutated bytes are written as they are, under a .gz name.
  return gzip === 'after' ? { bytes, gzip: 'none' } : { bytes, gzip };
}

describe('IDX reader and loader under mutation (fast-check)', () => {
  it('byte flips (raw and gzip)', () => {
    fc.assert(
      fc.property(which, gzipMode, fc.array(fc.tuple(frac, fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }), (w, g, flips) => {
        const b = stored(w, g);
        // Half of the flips land in the header, where they matter most.
        flips.forEach(([f, x], i) => {
          b[i % 2 === 0 ? at(f, Math.min(16, b.length)) : at(f, b.length)] ^= x;
        });
        const r = finish(b, g);
        if (g === 'after') checkGz(w, b);
        else check(w, r.bytes, r.gzip);
      }),
      params,
    );
  });

  it('truncation and insertion', () => {
    fc.assert(
      fc.property(which, gzipMode, frac, fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 40 }), (w, g, f, truncate, ins) => {
        const b = stored(w, g);
        const p = at(f, b.length + 1);
        const out = truncate ? b.subarray(0, p) : Uint8Array.from([...b.subarray(0, p), ...ins, ...b.subarray(p)]);
        if (g === 'after') checkGz(w, out);
        else check(w, out, g);
      }),
      params,
    );
  });

  it('header edits: magic, dtype, rank, dims (up to 2^32 - 1)', () => {
    const dim = fc.oneof(fc.constantFrom(0, 1, 5, 6, 7, 27, 28, 29, 784, 2 ** 16, 2 ** 24, 2 ** 31, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
    fc.assert(
      fc.property(
        which,
        fc.constantFrom<'none' | 'before'>('none', 'before'),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 12 }),
        fc.array(dim, { minLength: 0, maxLength: 12 }),
        fc.boolean(),
        (w, g, magic, dtype, rank, dims, keepMagic) => {
          const b = Uint8Array.from(raw[w]);
          const out = Uint8Array.from([
            0,
            keepMagic ? 0 : magic,
            keepMagic ? 8 : dtype,
            rank,
            ...dims.flatMap((d) => [d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255]),
            ...b.subarray(4 + 4 * (w === 'images' ? 3 : 1)),
          ]);
          check(w, out, g);
        },
      ),
      params,
    );
  });

  it('consistent headers of any size (the reader must refuse before allocating)', () => {
    const dim = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(28, 2 ** 20, 2 ** 30, 2 ** 32 - 1));
    fc.assert(
      fc.property(which, fc.array(dim, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 4096 }), (w, shape, extra) => {
        // A well-formed header followed by exactly the bytes it declares when that is small, far fewer otherwise.
        const h = new Uint8Array(4 + 4 * shape.length);
        h[2] = 8;
        h[3] = shape.length;
        const view = new DataView(h.buffer);
        shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
        const declared = shape.reduce((a, d) => a * d, 1);
        const body = declared <= 8192 ? seededBytes(declared, extra) : seededBytes(extra, 3);
        check(w, Uint8Array.from([...h, ...body]), extra % 2 === 0 ? 'none' : 'before');
      }),
      params,
    );
  });
});

/** Writes already-mutated gzip bytes as the .gz file. */
function checkGz(w: 'images' | 'labels', gzBytes: Uint8Array): void {
  casesRun++;
  const dir = fs.mkdtempSync(tmp.path('gz-'));
  const other = w === 'images' ? 'labels' : 'images';
  const file = path.join(dir, `${path.basename(files[w])}.gz`);
  fs.writeFileSync(file, gzBytes);
  fs.writeFileSync(path.join(dir, path.basename(files[other])), raw[other]);
  const t0 = Date.now();
  for (const f of [() => loadDatasetFromDir(dir, 'mnist', 'test'), () => readIdx(file)]) {
    try {
      f();
    } catch (err) {
      if (!(err instanceof DataError)) throw new Error(`unclean failure: ${(err as Error)?.name}: ${(err as Error)?.message}`);
    }
  }
  expect(Date.now() - t0).toBeLessThan(CASE_LIMIT_MS);
  fs.rmSync(dir, { recursive: true, force: true });
}

describe('IDX declared sizes', () => {
  it('a header declaring 2^32-1 x 2^32-1 x 2^32-1 bytes is refused from the header alone', () => {
    const h = Uint8Array.from([0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 2, 3]);
    const file = tmp.path('huge-idx3-ubyte');
    fs.writeFileSync(file, h);
    const before = process.memoryUsage().arrayBuffers;
    expect(() => readIdx(file)).toThrow(new RegExp(`over the ${DEFAULT_MAX_IDX_BYTES}-byte limit`));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(2 ** 20);
  });

  it('a gzip bomb (small file, huge output) stops at the limit', () => {
    const file = tmp.path('bomb-idx1-ubyte.gz');
    // 64 MiB of zeros compress to ~64 KB; a 1 MiB limit must stop the inflation early.
    fs.writeFileSync(file, zlib.gzipSync(Buffer.alloc(64 * 2 ** 20)));
    expect(() => readIdx(file, { maxBytes: 2 ** 20 })).toThrow(/decompresses to more than the 1048576-byte limit/);
  });
});

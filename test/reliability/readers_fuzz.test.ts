/**
 * Fuzzes the data readers of @lip/core (issue 17) with seeded mutations of
 * valid files: byte flips, truncation and insertion, `.npy` header edits
 * (huge, negative and overflowing dims, wrong dtype strings, bad keys and
 * lengths), IDX headers of every element type, `.npz` archives with a
 * corrupted central directory, lying sizes, deflate bombs and traversal
 * names, mutated PNG and JPEG images, CIFAR-10 batches, and image folders
 * full of symlinks (loops, links leaving the root, dead links).
 *
 * Every case must either read to a consistent result or throw a DataError
 * (never another error type), within CASE_LIMIT_MS, without a large
 * allocation, without leaking a file descriptor, and leaving no file behind.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import fc from 'fast-check';
import { DataError, LabeledImages, NdArray, encodeIdx, readCifar10, readIdxArray, readImageFolder, readLabeledData, readNpy, readNpz } from '@lip/core';
import { listFiles, makeTmpDir, openFilesUnder, removeDir } from '@lip/test-support';
import { cifarBatch, jpegBytes, npyBytes, npyHeaderText, npyOf, pngBytes, zipBytes } from '@lip/test-support/data';

/** Cases per family; LIP_FUZZ_RUNS overrides it for a longer local run. */
const RUNS = Number(process.env.LIP_FUZZ_RUNS ?? 100);
/** A case taking longer than this counts as a hang (generous: the machine is shared and loaded). */
const CASE_LIMIT_MS = 5000;
/** Largest growth of ArrayBuffer memory one case may cause: the valid inputs are a few KB, the bombs inflate to 16 MiB. */
const CASE_MEMORY_BYTES = 32 * 2 ** 20;
const FAMILY_LIMIT_MS = Number(process.env.LIP_FUZZ_MS ?? 30_000);
const params = { numRuns: RUNS, interruptAfterTimeLimit: FAMILY_LIMIT_MS, seed: Number(process.env.LIP_FUZZ_SEED ?? 20240917) } as const;

// Removed by the afterAll below, once it has listed what the cases left.
const root = makeTmpDir('rel-readers-fuzz');
const counts: Record<string, { run: number; parsed: number; refused: number }> = {};
const rssStart = process.memoryUsage().rss;
let maxCaseArrayBuffers = 0;

afterAll(() => {
  const left = listFiles(root);
  removeDir(root);
  const total = Object.values(counts).reduce((a, c) => a + c.run, 0);
  const rows = Object.entries(counts).map(([k, c]) => `  ${k}: ${c.run} cases, ${c.parsed} read, ${c.refused} refused with DataError`);
  process.stdout.write(
    `readers fuzz: ${total} cases\n${rows.join('\n')}\n` +
      `  largest ArrayBuffer growth in one case: ${(maxCaseArrayBuffers / 2 ** 20).toFixed(1)} MiB; ` +
      `rss growth over the run: ${((process.memoryUsage().rss - rssStart) / 2 ** 20).toFixed(0)} MiB\n`,
  );
  expect(left).toEqual([]);
});

/**
 * Runs one case in a fresh folder: `make` writes the inputs, `read` reads
 * them. Checks the outcome, time, memory, open descriptors and leftovers.
 */
async function runCase<T>(family: string, make: (dir: string) => string, read: (input: string) => T | Promise<T>, consistent: (r: T) => void): Promise<void> {
  const c = (counts[family] ??= { run: 0, parsed: 0, refused: 0 });
  c.run++;
  const dir = fs.mkdtempSync(path.join(root, 'case-'));
  try {
    const input = make(dir);
    const before = listFiles(dir);
    const mem = process.memoryUsage().arrayBuffers;
    const t0 = Date.now();
    try {
      consistent(await read(input));
      c.parsed++;
    } catch (err) {
      if (!(err instanceof DataError)) {
        throw new Error(`${family}: unclean failure: ${(err as Error)?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack}`);
      }
      c.refused++;
    }
    const ms = Date.now() - t0;
    if (ms > CASE_LIMIT_MS) throw new Error(`${family}: a case took ${ms} ms (limit ${CASE_LIMIT_MS} ms)`);
    const grew = process.memoryUsage().arrayBuffers - mem;
    maxCaseArrayBuffers = Math.max(maxCaseArrayBuffers, grew);
    expect(grew).toBeLessThan(CASE_MEMORY_BYTES);
    expect(openFilesUnder(root)).toEqual([]); // no descriptor left open on the inputs
    expect(listFiles(dir)).toEqual(before); // nothing written, extracted or left behind
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function consistentArray(a: NdArray): void {
  expect(a.data.length).toBe(a.shape.reduce((x, d) => x * d, 1));
}

function consistentLabeled(d: LabeledImages): void {
  expect(d.images.length).toBe(d.n * d.height * d.width * d.channels);
  expect(d.labels.length).toBe(d.n);
  for (const v of d.images) if (!Number.isFinite(v)) throw new Error(`non-finite value ${v} in a result`);
  if (d.classNames !== undefined) for (const l of d.labels) expect(l).toBeLessThan(d.classNames.length);
}

const frac = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const at = (f: number, n: number): number => Math.min(Math.max(n - 1, 0), Math.floor(f * n));
const flipsArb = fc.array(fc.tuple(frac, fc.integer({ min: 1, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 8 });

/** XORs bytes; a flip with `head` set lands in the first `headBytes` bytes. */
function flip(src: Uint8Array, flips: ReadonlyArray<readonly [number, number, boolean]>, headBytes: number): Uint8Array {
  const b = Uint8Array.from(src);
  for (const [f, x, head] of flips) b[at(f, head ? Math.min(headBytes, b.length) : b.length)] ^= x;
  return b;
}

/** Cuts at a point, or inserts bytes there. */
function cutOrInsert(src: Uint8Array, f: number, truncate: boolean, ins: Uint8Array): Uint8Array {
  const p = at(f, src.length + 1);
  return truncate ? src.subarray(0, p) : Uint8Array.from([...src.subarray(0, p), ...ins, ...src.subarray(p)]);
}

const write = (dir: string, name: string, bytes: Uint8Array | string): string => {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
};

// Valid inputs the mutations start from.
const f32 = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i / 4 - 2.5);
const validNpy = [
  npyOf(f32, [2, 3, 4]),
  npyOf(
    Uint8Array.from({ length: 3 * 4 * 4 }, (_, i) => i),
    [3, 4, 4],
  ),
  npyBytes(
    npyHeaderText('>i2', [3, 2], true),
    Uint8Array.from({ length: 12 }, (_, i) => i),
  ),
  npyBytes(npyHeaderText('<i8', [4]), new Uint8Array(32), 2),
];
const xImages = Uint8Array.from({ length: 3 * 4 * 4 }, (_, i) => (i * 5) & 255);
const xNpy = npyOf(xImages, [3, 4, 4]);
const yNpy = npyOf(Uint8Array.from([0, 1, 2]), [3]);
const validNpz = (methods: [number, number]): Uint8Array =>
  zipBytes([
    { name: 'x.npy', data: xNpy, method: methods[0] },
    { name: 'y.npy', data: yNpy, method: methods[1] },
  ]);
const gray = Uint8Array.from({ length: 6 * 5 }, (_, i) => i * 8);
const rgb = Uint8Array.from({ length: 6 * 5 * 3 }, (_, i) => (i * 3) & 255);
const validImages = [pngBytes(6, 5, 1, gray), pngBytes(6, 5, 3, rgb), jpegBytes(6, 5, rgb, 90)];

describe('.npy reader under mutation', () => {
  it('byte flips, truncation and insertion', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: validNpy.length - 1 }),
        flipsArb,
        frac,
        fc.boolean(),
        fc.uint8Array({ minLength: 1, maxLength: 24 }),
        fc.boolean(),
        async (k, flips, f, truncate, ins, doFlip) => {
          const bytes = doFlip ? flip(validNpy[k]!, flips, 128) : cutOrInsert(validNpy[k]!, f, truncate, ins);
          await runCase(
            'npy bytes',
            (dir) => write(dir, 'a.npy', bytes),
            (file) => readNpy(file),
            consistentArray,
          );
        },
      ),
      params,
    );
  });

  it('header edits: dtype strings, shapes (huge, negative, overflowing), keys, versions and lengths', async () => {
    const descr = fc.constantFrom(
      '<f4',
      '>f8',
      '|u1',
      '<i8',
      '>u2',
      '<f2',
      '|b1',
      '=i4',
      '<U3',
      '|O',
      '<c8',
      'f4',
      '<f16',
      '>i3',
      '',
      "<f4'",
      '<M8[D]',
      '|V8',
      'x',
      '<f4[3]',
    );
    const dim = fc.oneof(
      fc.integer({ min: 0, max: 30 }),
      fc.constantFrom('-1', '0', '24', '2**31', '9007199254740993', '18446744073709551616', '4294967296', '1e9', '3.5', 'None', "'2'", '2L'),
    );
    const shape = fc.array(dim, { minLength: 0, maxLength: 10 });
    const fortran = fc.constantFrom('True', 'False', '1', 'None', "'False'");
    await fc.assert(
      fc.asyncProperty(
        descr,
        shape,
        fortran,
        fc.constantFrom(1, 2, 3),
        fc.nat({ max: 6 }),
        fc.integer({ min: 0, max: 200 }),
        fc.boolean(),
        async (d, s, fo, version, edit, extra, exact) => {
          // Often exactly the bytes a well-formed header declares (when that is small), else an arbitrary amount.
          const itemBytes = Number(/\d+$/.exec(d)?.[0] ?? 1);
          const count = s.every((x) => typeof x === 'number') ? (s as number[]).reduce((a, x) => a * x, 1) : -1;
          const payload = exact && count >= 0 && count * itemBytes <= 4096 ? count * itemBytes : extra;
          const dims = s.map(String);
          const shapeText = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
          let header = `{'descr': '${d}', 'fortran_order': ${fo}, 'shape': ${shapeText}, }`;
          if (edit === 1) header = header.replace("'fortran_order'", "'fortran'");
          if (edit === 2) header = header.replace('}', "'extra': 1, }");
          if (edit === 3) header = header.slice(0, Math.max(0, header.length - 3 - (extra % 20)));
          if (edit === 4) header = `[${header}]`;
          let bytes = npyBytes(
            header,
            Uint8Array.from({ length: payload }, (_, i) => i * 7),
            version as 1 | 2 | 3,
          );
          if (edit === 5) bytes = Uint8Array.from(bytes).fill(0xff, 8, 10); // header length 65535, past the file
          if (edit === 6) bytes[7] = extra % 3;
          await runCase(
            'npy header',
            (dir) => write(dir, 'h.npy', bytes),
            (file) => readNpy(file),
            consistentArray,
          );
        },
      ),
      params,
    );
  });
});

describe('IDX reader (any element type) under mutation', () => {
  it('headers of every element type with any dims, and flipped or cut bodies', async () => {
    const dim = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constantFrom(2 ** 16, 2 ** 24, 2 ** 31, 2 ** 32 - 1));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x0a, 0x00, 0xff),
        fc.array(dim, { minLength: 0, maxLength: 9 }),
        fc.integer({ min: 0, max: 600 }),
        fc.boolean(),
        flipsArb,
        fc.boolean(),
        async (code, shape, extra, gzip, flips, exact) => {
          const itemBytes = ({ 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 } as Record<number, number>)[code] ?? 1;
          const declared = shape.reduce((a, d) => a * d, 1) * itemBytes;
          const bodyBytes = exact && declared <= 4096 ? declared : extra;
          const head = [0, 0, code, shape.length, ...shape.flatMap((d) => [d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255])];
          let bytes: Uint8Array = Uint8Array.from([...head, ...Array.from({ length: bodyBytes }, (_, i) => (i * 31) & 255)]);
          if (flips.length > 4) bytes = flip(bytes, flips, head.length);
          const out = gzip ? zlib.gzipSync(bytes) : bytes;
          await runCase(
            'idx',
            (dir) => write(dir, `x-idx${shape.length}-data${gzip ? '.gz' : ''}`, out),
            (file) => readIdxArray(file),
            consistentArray,
          );
        },
      ),
      params,
    );
  });
});

describe('.npz reader under mutation', () => {
  it('byte flips (often in the central directory), truncation and insertion', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<[number, number]>([0, 0], [8, 8], [0, 8]),
        flipsArb,
        frac,
        fc.boolean(),
        fc.uint8Array({ minLength: 1, maxLength: 30 }),
        fc.nat({ max: 2 }),
        async (methods, flips, f, truncate, ins, mode) => {
          const valid = validNpz(methods);
          // The central directory and end record are the last 2 * (46 + 5) + 22 bytes.
          const cdStart = valid.length - (2 * 51 + 22);
          let bytes: Uint8Array;
          if (mode === 0) bytes = flip(valid, flips, valid.length);
          else if (mode === 1) {
            bytes = Uint8Array.from(valid);
            for (const [g, x] of flips) bytes[cdStart + at(g, valid.length - cdStart)] ^= x;
          } else bytes = cutOrInsert(valid, f, truncate, ins);
          await runCase(
            'npz bytes',
            (dir) => write(dir, 'a.npz', bytes),
            (file) => readNpz(file),
            (r) => r.arrays.forEach(consistentArray),
          );
        },
      ),
      params,
    );
  });

  it('lying sizes and CRCs, traversal names, odd methods and flags', async () => {
    const name = fc.constantFrom(
      'x.npy',
      'y.npy',
      '../x.npy',
      '/abs/x.npy',
      'a/../../x.npy',
      'C:/x.npy',
      'a\\..\\x.npy',
      'x.npy/',
      '',
      'dir/x.npy',
      '..',
      'x.NPY',
    );
    const size = fc.oneof(fc.constant(undefined), fc.constantFrom(0, 1, 100, 2 ** 20, 2 ** 31, 2 ** 32 - 1), fc.nat({ max: 2000 }));
    await fc.assert(
      fc.asyncProperty(
        name,
        size,
        fc.option(fc.nat({ max: 2 ** 32 - 1 })),
        fc.constantFrom(0, 8, 8, 1, 12, 14, 99),
        fc.constantFrom(0, 0, 1, 8, 0x40),
        async (entryName, declaredSize, crc, method, flags) => {
          const raw = method === 0 || method === 8 ? undefined : xNpy;
          const bytes = zipBytes([
            { name: entryName, data: xNpy, method, declaredSize, crc: crc ?? undefined, flags, raw },
            { name: 'y.npy', data: yNpy },
          ]);
          await runCase(
            'npz entries',
            (dir) => write(dir, 'e.npz', bytes),
            (file) => readNpz(file),
            (r) => r.arrays.forEach(consistentArray),
          );
        },
      ),
      params,
    );
  });

  it('deflate bombs: honest or lying declared sizes stop within the limits', async () => {
    // 16 MiB of zeros as one .npy entry, about 16 KB deflated; a 1 MiB per-array limit.
    const bombNpy = npyOf(new Uint8Array(16 * 2 ** 20), [16 * 2 ** 20]);
    const bombRaw = zlib.deflateRawSync(bombNpy);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(bombNpy.length, 1000, 2 ** 20, 2 ** 31, 0, 64), fc.integer({ min: 1, max: 3 }), async (declaredSize, copies) => {
        // Several central-directory entries may share one bomb (overlapping-file style).
        const bytes = zipBytes(Array.from({ length: copies }, (_, i) => ({ name: `b${i}.npy`, data: bombNpy, declaredSize, raw: bombRaw })));
        await runCase(
          'npz bomb',
          (dir) => write(dir, 'bomb.npz', bytes),
          (file) => readNpz(file, { maxBytes: 2 ** 20 }),
          (r) => r.arrays.forEach(consistentArray),
        );
      }),
      { ...params, numRuns: Math.min(RUNS, 30) },
    );
  });

  it('readLabeledData on mutated .npz pairs', async () => {
    const someFlips = fc.array(fc.tuple(frac, fc.integer({ min: 1, max: 255 }), fc.boolean()), { minLength: 0, maxLength: 3 });
    await fc.assert(
      fc.asyncProperty(someFlips, fc.constantFrom<[number, number]>([0, 0], [8, 8]), async (flips, methods) => {
        const bytes = flip(validNpz(methods), flips, 400);
        await runCase(
          'npz labeled',
          (dir) => write(dir, 'd.npz', bytes),
          (file) => readLabeledData(file, { split: 'test' }),
          consistentLabeled,
        );
      }),
      params,
    );
  });
});

describe('image decoders and image folders under mutation', () => {
  it('flipped, cut and resized PNG and JPEG files', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: validImages.length - 1 }),
        flipsArb,
        frac,
        fc.boolean(),
        fc.uint8Array({ minLength: 1, maxLength: 30 }),
        fc.nat({ max: 2 }),
        fc.nat({ max: 2 ** 32 - 1 }),
        fc.nat({ max: 2 ** 16 - 1 }),
        async (k, flips, f, truncate, ins, mode, bigDim, jpegDim) => {
          let bytes: Uint8Array;
          if (mode === 0) bytes = flip(validImages[k]!, flips, 64);
          else if (mode === 1) bytes = cutOrInsert(validImages[k]!, f, truncate, ins);
          else {
            const b = Buffer.from(validImages[k]!);
            if (k < 2)
              b.writeUInt32BE(bigDim, 16 + 4 * (bigDim & 1)); // PNG IHDR width or height
            else {
              const sof = b.indexOf(Buffer.from([0xff, 0xc0]));
              b.writeUInt16BE(jpegDim, sof + 5 + 2 * (jpegDim & 1)); // JPEG frame height or width
            }
            bytes = b;
          }
          await runCase(
            'images',
            (dir) => {
              write(dir, 'a/0.png', validImages[0]!);
              write(dir, `a/1.${k === 2 ? 'jpg' : 'png'}`, bytes);
              return dir;
            },
            (dir) => readImageFolder(dir),
            consistentLabeled,
          );
        },
      ),
      params,
    );
  });

  it('folders of symlinks: loops, links out of the root, dead links, links to devices', async () => {
    const target = fc.constantFrom('parent', 'root', 'sibling', 'self', 'outside', 'slash', 'dead', 'file', 'devnull', 'outsideFile');
    const linkArb = fc.tuple(fc.nat({ max: 5 }), target, fc.nat({ max: 5 }));
    const outside = fs.mkdtempSync(path.join(root, 'outside-'));
    fs.writeFileSync(path.join(outside, 'o.png'), validImages[0]!);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(linkArb, { minLength: 1, maxLength: 4 }), async (links) => {
          await runCase(
            'symlinks',
            (dir) => {
              const dirs = ['a', 'b', 'a/s', 'b/t', 'a/s/u', 'b/t/v'];
              for (const d of dirs) write(dir, `${d}/img.png`, validImages[0]!);
              links.forEach(([from, kind, to], i) => {
                const at2 = path.join(dir, dirs[from]!, `link${i}${kind.endsWith('File') || kind === 'file' || kind === 'devnull' ? '.png' : ''}`);
                const dest: string = (
                  {
                    parent: path.dirname(path.dirname(at2)),
                    root: dir,
                    sibling: path.join(dir, dirs[to]!),
                    self: path.dirname(at2),
                    outside,
                    slash: '/',
                    dead: path.join(dir, 'missing'),
                    file: path.join(dir, 'a', 'img.png'),
                    devnull: '/dev/null',
                    outsideFile: path.join(outside, 'o.png'),
                  } as Record<string, string>
                )[kind]!;
                fs.symlinkSync(dest, at2);
              });
              return dir;
            },
            (dir) => readImageFolder(dir),
            consistentLabeled,
          );
        }),
        params,
      );
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('CIFAR-10 reader under mutation', () => {
  it('cut or extended batches, flipped labels and odd class-name files', async () => {
    const valid = cifarBatch([1, 5, 9], (i, c, y, x) => (i + c * 7 + y + x) & 255);
    const names = fc.oneof(fc.constant(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']), fc.array(fc.string({ maxLength: 8 }), { maxLength: 12 }));
    await fc.assert(
      fc.asyncProperty(
        flipsArb,
        fc.oneof(fc.constant(0), fc.integer({ min: -3073 * 3, max: 3073 })),
        fc.boolean(),
        fc.option(names),
        async (flips, sizeChange, flipLabels, meta) => {
          let bytes = Uint8Array.from(valid);
          if (flipLabels) for (const [f, x] of flips) bytes[3073 * at(f, 3)] ^= x;
          if (sizeChange < 0) bytes = bytes.subarray(0, bytes.length + sizeChange);
          else if (sizeChange > 0) bytes = Uint8Array.from([...bytes, ...new Uint8Array(sizeChange)]);
          await runCase(
            'cifar',
            (dir) => {
              write(dir, 'test_batch.bin', bytes);
              if (meta !== null) write(dir, 'batches.meta.txt', meta.join('\n'));
              return dir;
            },
            (dir) => readCifar10(dir),
            consistentLabeled,
          );
        },
      ),
      params,
    );
  });
});

describe('readLabeledData on mutated .npy and IDX folders', () => {
  it('mutated images or labels next to an intact partner', async () => {
    const idxImages = encodeIdx([3, 4, 4], xImages);
    const idxLabels = encodeIdx([3], Uint8Array.from([0, 1, 2]));
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.boolean(), flipsArb, frac, fc.boolean(), fc.boolean(), async (idx, images, flips, f, truncate, doFlip) => {
        const files = idx
          ? ({ images: ['t10k-images-idx3-ubyte', idxImages], labels: ['t10k-labels-idx1-ubyte', idxLabels] } as const)
          : ({ images: ['x.npy', xNpy], labels: ['y.npy', yNpy] } as const);
        const [name, valid] = images ? files.images : files.labels;
        const bytes = doFlip ? flip(valid, flips, 64) : cutOrInsert(valid, f, truncate, new Uint8Array(5));
        await runCase(
          'labeled folders',
          (dir) => {
            write(dir, files.images[0], files.images[1]);
            write(dir, files.labels[0], files.labels[1]);
            write(dir, name, bytes);
            return dir;
          },
          (dir) => readLabeledData(dir, { split: 'test' }),
          consistentLabeled,
        );
      }),
      params,
    );
  });
});

/**
 * The IDX reader's generality (any element type, any rank). The unsigned-byte
 * API MNIST uses is tested through train's re-export in
 * packages/train/src/data/idx.test.ts.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { rejectionOf, tmpDirPerTest, values } from '@lip/test-support';
import { DataError, InvalidArgumentError } from '../errors';
import { encodeIdx, readIdx, readIdxArray, readIdxArrayAsync, writeIdx } from './idx';

const tmp = tmpDirPerTest('idx');

/** An IDX file written byte by byte from the format: 0, 0, type, rank, big-endian dims, big-endian elements. */
function idxFromSpec(code: number, shape: number[], elementBytes: number[]): Uint8Array {
  const head = [0, 0, code, shape.length, ...shape.flatMap((d) => [d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255])];
  return Uint8Array.from([...head, ...elementBytes]);
}

/** The message `f` throws. */
function rejectionMessage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a throw');
}

describe('readIdxArray', () => {
  it.each([
    ['signed byte', 0x09, 'int8', [0xff, 0x7f, 0x80], [-1, 127, -128]],
    ['int16', 0x0b, 'int16', [0xff, 0xfe, 0x01, 0x00, 0x80, 0x00], [-2, 256, -32768]],
    ['int32', 0x0c, 'int32', [0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff], [65536, -1, 2147483647]],
    ['float32', 0x0d, 'float32', [0x3f, 0xc0, 0, 0, 0xc0, 0x20, 0, 0, 0x7f, 0x80, 0, 0], [1.5, -2.5, Infinity]],
    ['float64', 0x0e, 'float64', [0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xbf, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [1.5, -0.5, 5e-324]],
  ] as const)('decodes big-endian %s elements', (name, code, dtype, bytes, expected) => {
    const file = tmp.path('x-idx1-data');
    fs.writeFileSync(file, idxFromSpec(code, [3], [...bytes]));
    const a = readIdxArray(file);
    expect(a.dtype).toBe(dtype);
    expect(a.shape).toEqual([3]);
    expect(values(a.data)).toEqual(expected);
    // readIdx keeps its unsigned-byte contract.
    expect(() => readIdx(file)).toThrow(
      new RegExp(`holds ${name} data \\(IDX dtype 0x0${code.toString(16)}\\); only unsigned byte \\(0x08\\) IDX files are supported`),
    );
  });

  it('round-trips every element type and a rank-5 shape through writeIdx (raw and gzip)', () => {
    const shape = [2, 1, 3, 2, 2];
    const n = 24;
    const arrays = [
      Uint8Array.from({ length: n }, (_, i) => i * 10),
      Int8Array.from({ length: n }, (_, i) => i - 12),
      Int16Array.from({ length: n }, (_, i) => i * 1000 - 12000),
      Int32Array.from({ length: n }, (_, i) => i * 100000 - 1),
      Float32Array.from({ length: n }, (_, i) => i / 8 - 1),
      Float64Array.from({ length: n }, (_, i) => Math.PI * i),
    ];
    for (const [k, data] of arrays.entries()) {
      for (const gz of ['', '.gz']) {
        const file = tmp.path(`a${k}-idx5${gz}`);
        writeIdx(file, shape, data);
        const got = readIdxArray(file);
        expect(got.shape).toEqual(shape);
        expect(got.data).toBeInstanceOf(data.constructor);
        expect(values(got.data)).toEqual(Array.from(data));
      }
    }
  });

  it('counts elements, not bytes, against the limits and the file', () => {
    const file = tmp.path('f-idx1-float');
    fs.writeFileSync(file, idxFromSpec(0x0d, [3], new Array(8).fill(0)));
    expect(() => readIdxArray(file)).toThrow(/is truncated: header declares 3 float32 = 12 bytes but the file holds 8/);
    fs.writeFileSync(file, zlib.gzipSync(idxFromSpec(0x0e, [1 << 20], [])));
    expect(() => readIdxArray(file, { maxBytes: 1 << 20 })).toThrow(/header declares 1048576 float64 = 8388608 bytes, over the 1048576-byte limit/);
    fs.writeFileSync(file, idxFromSpec(0x0d, [8], new Array(32).fill(0)));
    expect(() => readIdxArray(file, { maxElements: 4 })).toThrow(DataError);
    expect(() => readIdxArray(file, { maxElements: 4 })).toThrow(/8 elements, over the limit of 4 elements/);
  });

  it('readIdxArrayAsync (gunzip on the thread pool) reads what readIdxArray reads and throws the same errors', async () => {
    const image = idxFromSpec(
      0x08,
      [3, 4, 5],
      Array.from({ length: 60 }, (_, i) => (i * 37) % 256),
    );
    const gz = zlib.gzipSync(image);
    // The gzip trailer's size (ISIZE) only sizes the output chunk: a wrong one changes nothing.
    const trailer = (size: number): Uint8Array => {
      const b = Uint8Array.from(gz);
      new DataView(b.buffer).setUint32(b.length - 4, size, true);
      return b;
    };
    const cases: [string, Uint8Array | string][] = [
      ['raw-idx3', image],
      ['gz-idx3.gz', gz],
      ['small-trailer-idx3.gz', trailer(3)],
      ['huge-trailer-idx3.gz', trailer(0xffffffff)],
      ['truncated-idx3.gz', gz.subarray(0, gz.length - 9)],
      ['not-gzip-idx3.gz', image],
      ['empty-idx3.gz', zlib.gzipSync(new Uint8Array(0))],
      ['short-idx3', image.subarray(0, 30)],
      ['missing-idx3', ''],
    ];
    for (const [name, bytes] of cases) {
      const file = tmp.path(name);
      if (typeof bytes !== 'string') fs.writeFileSync(file, bytes);
      let syncError: Error | null = null;
      let expected: ReturnType<typeof readIdxArray> | null = null;
      try {
        expected = readIdxArray(file, { maxElements: 1000 });
      } catch (err) {
        syncError = err as Error;
      }
      if (expected !== null) {
        const got = await readIdxArrayAsync(file, { maxElements: 1000 });
        expect([name, got.dtype, got.shape, values(got.data)]).toEqual([name, expected.dtype, expected.shape, values(expected.data)]);
      } else {
        const err = await rejectionOf(readIdxArrayAsync(file, { maxElements: 1000 }));
        expect([name, err.constructor, err.message]).toEqual([name, syncError!.constructor, syncError!.message]);
      }
    }
    // A gzip bomb stops at the limit, asynchronously too.
    const bomb = tmp.path('bomb-idx1.gz');
    fs.writeFileSync(bomb, zlib.gzipSync(idxFromSpec(0x08, [1 << 20], new Array(1 << 20).fill(0))));
    expect((await rejectionOf(readIdxArrayAsync(bomb, { maxBytes: 1 << 16 }))).message).toBe(rejectionMessage(() => readIdxArray(bomb, { maxBytes: 1 << 16 })));
  });

  it('encodeIdx rejects data of a type IDX cannot store', () => {
    expect(() => encodeIdx([2], new Uint16Array(2) as unknown as Uint8Array)).toThrow(InvalidArgumentError);
    expect(() => encodeIdx([2], new Uint16Array(2) as unknown as Uint8Array)).toThrow(/'data' must be a Uint8Array, Int8Array, Int16Array/);
    expect(() => encodeIdx([2, 2], new Float32Array(3))).toThrow(/'data' holds 3 elements but 'shape' \[2, 2\] needs 4/);
  });
});

import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { tmpDirPerTest } from '@lip/test-support';
import { DataError, InvalidArgumentError } from '../errors';
import { DEFAULT_IDX_FIX, encodeIdx, readIdx, writeIdx } from './idx';

const tmp = tmpDirPerTest('idx');

function bytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Header of an unsigned-byte IDX file with `dims`, without data. */
function header(dims: number[], dtype = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(out.buffer);
  out[2] = dtype;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Reads `file` expecting one DataError whose message names it; returns the message. */
function readError(file: string, opts?: Parameters<typeof readIdx>[1]): string {
  let caught: unknown;
  try {
    readIdx(file, opts);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DataError);
  const e = caught as DataError;
  expect(e.name).toBe('DataError');
  expect(e.exitCode).toBe(2);
  expect(e.message).toContain(path.resolve(file));
  expect(e.message).toContain(opts?.fix ?? DEFAULT_IDX_FIX);
  return e.message;
}

describe('writeIdx / readIdx round trip', () => {
  it.each([
    ['raw', 'images-idx3-ubyte', false],
    ['gzip', 'images-idx3-ubyte.gz', true],
  ])('round-trips %s images', (_kind, name, gz) => {
    const file = tmp.path(name);
    const data = bytes(5 * 28 * 28);
    writeIdx(file, [5, 28, 28], data);
    const raw = fs.readFileSync(file);
    expect(raw[0] === 0x1f && raw[1] === 0x8b).toBe(gz);
    const got = readIdx(file);
    expect(got.shape).toEqual([5, 28, 28]);
    expect(got.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(got.data).equals(Buffer.from(data))).toBe(true);
  });

  it('round-trips a rank-1 label file and honours an explicit gzip flag', () => {
    const file = tmp.path('labels-idx1-ubyte');
    const data = Uint8Array.from([9, 0, 0, 3, 255]);
    writeIdx(file, [5], data, { gzip: true });
    expect(fs.readFileSync(file)[0]).toBe(0x1f);
    const got = readIdx(file);
    expect(got.shape).toEqual([5]);
    expect(Array.from(got.data)).toEqual([9, 0, 0, 3, 255]);
  });

  it('encodes the big-endian header of the IDX format', () => {
    const enc = encodeIdx([2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6]));
    expect(Array.from(enc)).toEqual([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
  });

  it('rejects a shape that does not match the data', () => {
    expect(() => writeIdx(tmp.path('x'), [2, 3], new Uint8Array(5))).toThrow(InvalidArgumentError);
    expect(() => writeIdx(tmp.path('x'), [2, 3], new Uint8Array(5))).toThrow(/'data' holds 5 bytes but 'shape' \[2, 3\] needs 6/);
    expect(() => encodeIdx([], new Uint8Array(0))).toThrow(/'shape' must have 1 to 8 dimensions/);
    expect(() => encodeIdx([1.5], new Uint8Array(1))).toThrow(InvalidArgumentError);
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });
});

describe('readIdx rejects bad files with one DataError naming the file and the fix', () => {
  it('missing file', () => {
    expect(readError(tmp.path('nope-idx1-ubyte'))).toMatch(/does not exist/);
  });

  it('empty file', () => {
    const file = tmp.path('empty-idx1-ubyte.gz');
    fs.writeFileSync(file, '');
    expect(readError(file)).toMatch(/is empty \(0 bytes\)/);
  });

  it('truncated raw file: declared vs held bytes', () => {
    const file = tmp.path('train-images-idx3-ubyte');
    fs.writeFileSync(file, concat(header([60000, 28, 28]), bytes(1200)));
    expect(readError(file)).toContain('is truncated: header declares 60000×28×28 = 47040000 bytes but the file holds 1200');
  });

  it('truncated gzip stream', () => {
    const file = tmp.path('train-images-idx3-ubyte.gz');
    const gz = zlib.gzipSync(encodeIdx([4, 28, 28], bytes(4 * 784)));
    fs.writeFileSync(file, gz.subarray(0, Math.floor(gz.length / 2)));
    expect(readError(file)).toMatch(/is truncated or corrupt: gzip cannot decompress it/);
  });

  it('gzip that decompresses to a truncated IDX array', () => {
    const file = tmp.path('train-images-idx3-ubyte.gz');
    fs.writeFileSync(file, zlib.gzipSync(concat(header([10, 28, 28]), bytes(784))));
    expect(readError(file)).toContain('header declares 10×28×28 = 7840 bytes but the file holds 784');
  });

  it('file named .gz that is not gzip', () => {
    const file = tmp.path('labels-idx1-ubyte.gz');
    fs.writeFileSync(file, encodeIdx([3], Uint8Array.from([1, 2, 3])));
    expect(readError(file)).toMatch(/is named \.gz but is not gzip data \(it starts with 00 00 08 01/);
  });

  it('wrong magic number', () => {
    const file = tmp.path('labels-idx1-ubyte');
    fs.writeFileSync(file, Buffer.from('PK\x03\x04 this is a zip file'));
    expect(readError(file)).toMatch(/is not an IDX file: it starts with 50 4b 03 04/);
  });

  it('wrong magic number inside gzip', () => {
    const file = tmp.path('labels-idx1-ubyte.gz');
    fs.writeFileSync(file, zlib.gzipSync(Buffer.from('<html>404 Not Found</html>')));
    expect(readError(file)).toMatch(/is not an IDX file/);
  });

  it('non-ubyte dtype', () => {
    const file = tmp.path('floats-idx1-ubyte');
    fs.writeFileSync(file, concat(header([2], 0x0d), new Uint8Array(8)));
    expect(readError(file)).toMatch(/holds float32 data \(IDX dtype 0x0d\); only unsigned byte \(0x08\) IDX files are supported/);
    fs.writeFileSync(file, concat(header([2], 0x42), new Uint8Array(2)));
    expect(readError(file)).toMatch(/unknown IDX dtype byte 0x42/);
  });

  it('rank 0 and a header cut short', () => {
    const file = tmp.path('x-idx3-ubyte');
    fs.writeFileSync(file, Uint8Array.from([0, 0, 8, 0]));
    expect(readError(file)).toMatch(/declares rank 0/);
    fs.writeFileSync(file, Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 1]));
    expect(readError(file)).toMatch(/is truncated: its rank-3 header needs 16 bytes but the file holds 8/);
    fs.writeFileSync(file, Uint8Array.from([0, 0]));
    expect(readError(file)).toMatch(/too short for the 4-byte IDX header/);
  });

  it('huge declared dims are refused before any allocation', () => {
    const file = tmp.path('hostile-idx3-ubyte');
    fs.writeFileSync(file, concat(header([0xffffffff, 0xffffffff, 0xffffffff]), bytes(16)));
    expect(readError(file)).toContain('header declares 4294967295×4294967295×4294967295 = 79228162458924105385300197375 bytes, over the 1073741824-byte limit');
    fs.writeFileSync(file, concat(header([4096, 28, 28]), bytes(16)));
    expect(readError(file, { maxBytes: 1 << 20 })).toMatch(/over the 1048576-byte limit/);
  });

  it('a gzip bomb stops at the size limit', () => {
    const file = tmp.path('bomb-idx1-ubyte.gz');
    fs.writeFileSync(file, zlib.gzipSync(concat(header([4 << 20]), new Uint8Array(4 << 20))));
    expect(fs.statSync(file).size).toBeLessThan(64 << 10);
    expect(readError(file, { maxBytes: 1 << 20 })).toMatch(/decompresses to more than the 1048576-byte limit/);
  });

  it('bytes after the declared data', () => {
    const file = tmp.path('labels-idx1-ubyte');
    fs.writeFileSync(file, concat(header([3]), bytes(5)));
    expect(readError(file)).toMatch(/header declares 3 = 3 bytes but 2 more bytes follow the data/);
  });

  it('a folder instead of a file, and a custom fix', () => {
    expect(readError(tmp.dir, { fix: 'reinstall it' })).toMatch(/is not a regular file; reinstall it$/);
  });
});

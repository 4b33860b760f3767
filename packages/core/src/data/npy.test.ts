import * as path from 'path';
import { thrownBy, tmpDirPerTest, values } from '@lip/test-support';
import { fixtureValue, npyBytes, npyHeaderText, READER_FIXTURES } from '@lip/test-support/data';
import { DataError } from '../errors';
import { readNpy } from './npy';

const scratch = tmpDirPerTest('npy');
const write = scratch.put;

/** Reads `file` expecting one DataError naming it; returns the message. */
function npyError(file: string): string {
  const err = thrownBy(() => readNpy(file));
  expect(err).toBeInstanceOf(DataError);
  expect((err as DataError).exitCode).toBe(2);
  expect(err.message).toContain(path.resolve(file));
  return err.message;
}

describe('readNpy on files NumPy wrote (tools/make-reader-fixtures.py)', () => {
  const npy = (name: string): string => path.join(READER_FIXTURES, 'npy', `${name}.npy`);
  it.each([
    ['f4_le', 'float32', 'f'],
    ['f4_be', 'float32', 'f'],
    ['f8_le', 'float64', 'f'],
    ['f8_be', 'float64', 'f'],
    ['f2_le', 'float16', 'f'],
    ['u1', 'uint8', 'u'],
    ['i1', 'int8', 'i'],
    ['b1', 'bool', 'b'],
    ['i2_le', 'int16', 'i'],
    ['i2_be', 'int16', 'i'],
    ['u2_le', 'uint16', 'u'],
    ['i4_le', 'int32', 'i'],
    ['i4_be', 'int32', 'i'],
    ['u4_le', 'uint32', 'u'],
    ['i8_le', 'int64', 'i'],
    ['i8_be', 'int64', 'i'],
    ['u8_le', 'uint64', 'u'],
    ['f4_fortran', 'float32', 'f'],
    ['i2_be_fortran', 'int16', 'i'],
    ['v2', 'float32', 'f'],
    ['v3', 'float32', 'f'],
  ] as const)('%s holds the (2, 3, 4) %s fixture values in C order', (name, dtype, kind) => {
    const a = readNpy(npy(name));
    expect(a.dtype).toBe(dtype);
    expect(a.shape).toEqual([2, 3, 4]);
    expect(values(a.data).map(Number)).toEqual(Array.from({ length: 24 }, (_, i) => fixtureValue(i, kind)));
  });

  it('a scalar and an empty array', () => {
    const s = readNpy(npy('scalar'));
    expect(s.shape).toEqual([]);
    expect(values(s.data)).toEqual([7.5]);
    const e = readNpy(npy('empty'));
    expect(e.shape).toEqual([0, 3]);
    expect(e.data.length).toBe(0);
  });

  it.each([
    ['object', /holds Python objects \(dtype '\|O'\), which only unpickling could read, and lip never unpickles; .*convert it to a numeric array first/],
    ['unicode', /holds unicode strings \(dtype '<U3'\)/],
    ['structured', /holds a structured array .*save each field as an array of its own/],
    ['complex', /holds complex numbers \(dtype '<c8'\)/],
    ['datetime', /holds datetimes \(dtype '<M8\[D\]'\)/],
  ])('refuses %s arrays with a message saying what they hold', (name, pattern) => {
    expect(npyError(npy(name))).toMatch(pattern);
  });
});

describe('readNpy on files written from the spec', () => {
  it('reads float16 specials and little-endian int64 beyond 2^32', () => {
    const half = Uint16Array.from([0x3c00, 0xc000, 0x0001, 0x7c00, 0xfc00, 0x7e00, 0x8000]);
    const a = readNpy(write('h.npy', npyBytes(npyHeaderText('<f2', [7]), new Uint8Array(half.buffer))));
    expect(values(a.data)).toEqual([1, -2, 2 ** -24, Infinity, -Infinity, NaN, -0]);
    const big = BigInt64Array.from([2n ** 40n, -3n]);
    const b = readNpy(write('b.npy', npyBytes(npyHeaderText('<i8', [2]), new Uint8Array(big.buffer))));
    expect(values(b.data)).toEqual([2n ** 40n, -3n]);
  });

  it('reorders a Fortran-order rank-4 array', () => {
    // Column-major storage of a (2, 3, 1, 2) array whose C-order element i is i.
    const shape = [2, 3, 1, 2];
    const stored = new Float32Array(12);
    for (let i0 = 0; i0 < 2; i0++)
      for (let i1 = 0; i1 < 3; i1++)
        for (let i3 = 0; i3 < 2; i3++) {
          stored[i0 + 2 * i1 + 6 * i3] = i0 * 6 + i1 * 2 + i3;
        }
    const a = readNpy(write('f.npy', npyBytes(npyHeaderText('<f4', shape, true), new Uint8Array(stored.buffer))));
    expect(values(a.data)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('accepts a header with double quotes, no trailing comma, and Python 2 long integers', () => {
    const header = '{"descr": "<u2", "shape": (2L, 1L), "fortran_order": False}';
    const a = readNpy(write('q.npy', npyBytes(header, new Uint8Array(Uint16Array.from([5, 6]).buffer))));
    expect(a.shape).toEqual([2, 1]);
    expect(values(a.data)).toEqual([5, 6]);
  });

  it('rejects bad magic, version, header and sizes with one DataError each', () => {
    const f4 = (shape: number[], n: number): Uint8Array => npyBytes(npyHeaderText('<f4', shape), new Uint8Array(4 * n));
    expect(npyError(write('a.npy', Buffer.from('PK\x03\x04not npy')))).toMatch(/is not a \.npy file: it starts with 50 4b 03 04/);
    const v9 = f4([2], 2);
    v9[6] = 9;
    expect(npyError(write('b.npy', v9))).toMatch(/format version 9\.0; versions 1\.0, 2\.0 and 3\.0/);
    expect(npyError(write('c.npy', f4([3], 2)))).toMatch(/is truncated: its header declares 3 float32 = 12 bytes but the file holds 8/);
    expect(npyError(write('d.npy', f4([2], 3)))).toMatch(/4 more bytes follow the data/);
    expect(npyError(write('e.npy', npyBytes(npyHeaderText('<f4', [2 ** 40, 2 ** 40]), new Uint8Array(8))))).toMatch(
      /declares 1099511627776×1099511627776 float32 = .* over the limit of 268435456 elements/,
    );
    expect(npyError(write('f.npy', npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", new Uint8Array(4))))).toMatch(
      /not a non-negative integer/,
    );
    expect(npyError(write('g.npy', npyBytes("{'descr': '<f4', 'shape': (1,), }", new Uint8Array(4))))).toMatch(
      /keys 'descr', 'shape'; expected exactly 'descr', 'fortran_order' and 'shape'/,
    );
    expect(npyError(write('h.npy', npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk", new Uint8Array(4))))).toMatch(
      /malformed \.npy header/,
    );
    expect(npyError(write('i.npy', npyBytes("{'descr': '<f4', 'fortran_order': __import__('os'), 'shape': (1,)}", new Uint8Array(4))))).toMatch(
      /malformed \.npy header/,
    );
    expect(npyError(write('j.npy', npyBytes(npyHeaderText('<f3', [1]), new Uint8Array(3))))).toMatch(/unsupported dtype '<f3'/);
    const hugeHeader = npyBytes(npyHeaderText('<f4', [1]), new Uint8Array(4), 2);
    Buffer.from(hugeHeader.buffer).writeUInt32LE(2 ** 31, 8);
    expect(npyError(write('k.npy', hugeHeader))).toMatch(/header declares 2147483648 bytes, over the 10000-byte limit/);
    expect(npyError(write('l.npy', new Uint8Array(0)))).toMatch(/is empty/);
    expect(npyError(path.join(scratch.dir, 'missing.npy'))).toMatch(/does not exist/);
    expect(npyError(scratch.dir)).toMatch(/is a folder/);
  });
});

import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { listFiles, openFilesUnder, rejectionOf, tmpDirPerTest, values } from '@lip/test-support';
import { fixtureValue, npyOf, READER_FIXTURES, zipBytes } from '@lip/test-support/data';
import { DataError } from '../errors';
import { readNpz } from './npz';

const scratch = tmpDirPerTest('npz');
const write = scratch.put;

/** Reads `file` expecting one DataError naming it, and no file left open; returns the message. */
async function npzError(file: string, opts?: Parameters<typeof readNpz>[1]): Promise<string> {
  const err = await rejectionOf(readNpz(file, opts));
  expect(err).toBeInstanceOf(DataError);
  expect(err.message).toContain(path.resolve(file));
  expect(openFilesUnder(scratch.dir)).toEqual([]);
  return err.message;
}

const u8 = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7) % 23);

describe('readNpz on archives NumPy wrote', () => {
  it('reads numpy.savez (stored entries) in archive order', async () => {
    const { keys, arrays } = await readNpz(path.join(READER_FIXTURES, 'npz', 'stored_xy.npz'));
    expect(keys).toEqual(['x', 'y']);
    const x = arrays.get('x')!;
    expect([x.dtype, x.shape]).toEqual(['uint8', [5, 4, 4, 1]]);
    expect(values(x.data)).toEqual(Array.from({ length: 80 }, (_, i) => fixtureValue(i, 'u')));
    expect(values(arrays.get('y')!.data)).toEqual([0, 1, 2, 0, 1]);
  });

  it('reads numpy.savez_compressed (deflated entries), only the keys asked for', async () => {
    const file = path.join(READER_FIXTURES, 'npz', 'deflated_keras.npz');
    const { keys, arrays } = await readNpz(file, { keys: ['x_test', 'y_test'] });
    expect(keys).toEqual(['x_train', 'y_train', 'x_test', 'y_test']);
    expect([...arrays.keys()]).toEqual(['x_test', 'y_test']);
    expect(arrays.get('y_test')!.shape).toEqual([3, 1]);
    const picked = await readNpz(file, { keys: (available) => available.filter((k) => k.endsWith('_train')) });
    expect(values(picked.arrays.get('y_train')!.data)).toEqual([0n, 1n, 2n, 3n, 0n, 1n]);
    expect(await npzError(file, { keys: ['x'] })).toMatch(/has no array 'x' \(no entry 'x\.npy'\); it holds 'x_train', 'y_train', 'x_test', 'y_test'/);
  });
});

describe('readNpz on archives written from the spec', () => {
  it('mixes stored and deflated entries, keeps sub-folder keys, ignores other files', async () => {
    const file = write(
      'm.npz',
      zipBytes([
        { name: 'a.npy', data: npyOf(Float32Array.from([1.5, -2]), [2]), method: 0 },
        { name: 'dir/', data: new Uint8Array(0), method: 0 },
        { name: 'dir/b.npy', data: npyOf(Int16Array.from([3, 4, 5]), [3, 1]) },
        { name: 'README.txt', data: Buffer.from('hello') },
      ]),
    );
    const { keys, arrays } = await readNpz(file);
    expect(keys).toEqual(['a', 'dir/b']);
    expect(values(arrays.get('a')!.data)).toEqual([1.5, -2]);
    expect(arrays.get('dir/b')!.shape).toEqual([3, 1]);
    expect(listFiles(scratch.dir)).toEqual(['m.npz']); // nothing extracted
  });

  it('a zip bomb declaring its true size is refused before inflating', async () => {
    const bomb = new Uint8Array(64 << 20); // 64 MiB of zeros: about 64 KB deflated
    const file = write('bomb.npz', zipBytes([{ name: 'x.npy', data: npyOf(bomb, [bomb.length]) }]));
    expect(fs.statSync(file).size).toBeLessThan(200 << 10);
    const before = process.memoryUsage().arrayBuffers;
    expect(await npzError(file, { maxBytes: 1 << 20 })).toMatch(/entry 'x\.npy' declares 67108992 bytes uncompressed, over the 1048576-byte limit per array/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });

  it('a zip bomb lying about its size stops at the declared size', async () => {
    const real = npyOf(new Uint8Array(64 << 20), [64 << 20]);
    const file = write('liar.npz', zipBytes([{ name: 'x.npy', data: real, declaredSize: 1000 }]));
    const before = process.memoryUsage().arrayBuffers;
    const t0 = Date.now();
    expect(await npzError(file)).toMatch(
      /entry 'x\.npy' (inflates to more than the 1000 bytes its header declares|holds an entry that inflates to more than it declares)/,
    );
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });

  it('the total of the arrays read is capped', async () => {
    const file = write(
      't.npz',
      zipBytes([
        { name: 'x.npy', data: npyOf(new Uint8Array(3000), [3000]) },
        { name: 'y.npy', data: npyOf(new Uint8Array(3000), [3000]) },
      ]),
    );
    expect(await npzError(file, { maxTotalBytes: 5000 })).toMatch(/the arrays read declare 6256 bytes uncompressed, over the 5000-byte limit/);
    expect((await readNpz(file, { maxTotalBytes: 5000, keys: ['x'] })).arrays.get('x')!.shape).toEqual([3000]);
  });

  it.each([
    ['../evil.npy', /invalid relative path: \.\.\/evil\.npy/],
    ['a/../../evil.npy', /invalid relative path/],
    ['/etc/evil.npy', /absolute path: \/etc\/evil\.npy/],
    ['C:/evil.npy', /absolute path/],
    ['a\\..\\evil.npy', /invalid characters in fileName/],
  ])('refuses the traversal name %s without writing anything', async (name, pattern) => {
    const file = write(
      'trav.npz',
      zipBytes([
        { name: 'x.npy', data: npyOf(u8(4), [4]) },
        { name, data: npyOf(u8(4), [4]) },
      ]),
    );
    const msg = await npzError(file);
    expect(msg).toMatch(/holds an entry with an unsafe name/);
    expect(msg).toMatch(pattern);
    expect(listFiles(scratch.dir)).toEqual(['trav.npz']);
    expect(fs.existsSync(path.join(path.dirname(scratch.dir), 'evil.npy'))).toBe(false);
  });

  it('rejects corrupt archives with one DataError and no open file', async () => {
    const good = zipBytes([
      { name: 'x.npy', data: npyOf(u8(40), [40]) },
      { name: 'y.npy', data: npyOf(u8(4), [4]), method: 0 },
    ]);
    const cd = Buffer.from(good).lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    const badCd = Uint8Array.from(good);
    badCd[cd + 2] = 0x09;
    expect(await npzError(write('cd.npz', badCd))).toMatch(/is not a valid \.npz \(zip\) archive: invalid central directory file header signature/);
    expect(await npzError(write('cut.npz', good.subarray(0, good.length - 30)))).toMatch(/is not a valid \.npz \(zip\) archive/);
    expect(await npzError(write('notzip.npz', Buffer.from('x'.repeat(100))))).toMatch(
      /end of central directory record signature not found. Either not a zip file, or file is truncated; replace it/i,
    );
    expect(await npzError(write('empty.npz', new Uint8Array(0)))).toMatch(/is empty/);

    const data = npyOf(u8(8), [8]);
    expect(await npzError(write('crc.npz', zipBytes([{ name: 'x.npy', data, method: 0, crc: 1234 }])))).toMatch(
      /entry 'x\.npy' is corrupt: its data fails the CRC-32 check/,
    );
    expect(await npzError(write('enc.npz', zipBytes([{ name: 'x.npy', data, flags: 1 }])))).toMatch(/holds an encrypted entry/);
    expect(await npzError(write('bz.npz', zipBytes([{ name: 'x.npy', data, method: 12, raw: data }])))).toMatch(/unsupported compression method: 12/);
    expect(
      await npzError(
        write(
          'dup.npz',
          zipBytes([
            { name: 'x.npy', data },
            { name: 'x.npy', data },
          ]),
        ),
      ),
    ).toMatch(/holds two entries named 'x\.npy'/);
    expect(await npzError(write('short.npz', zipBytes([{ name: 'x.npy', data, declaredSize: data.length + 10 }])))).toMatch(/entry 'x\.npy'/);
    const flipped = zlib.deflateRawSync(data);
    flipped[flipped.length >> 1] ^= 0xff;
    expect(await npzError(write('flip.npz', zipBytes([{ name: 'x.npy', data, raw: flipped }])))).toMatch(/entry 'x\.npy'/);
    const many = zipBytes(Array.from({ length: 12 }, (_, i) => ({ name: `a${i}.npy`, data })));
    expect(await npzError(write('many.npz', many), { maxEntries: 10 })).toMatch(/declares 12 entries, over the limit of 10/);
    expect(await npzError(write('bad.npz', zipBytes([{ name: 'x.npy', data: Buffer.from('not an npy file') }])))).toMatch(/entry 'x\.npy' is not a \.npy file/);
  });
});

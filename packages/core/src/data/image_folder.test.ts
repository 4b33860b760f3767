import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { thrownBy, tmpDirPerTest, values, withTmpDir } from '@lip/test-support';
import { jpegBytes, pngBytes, READER_FIXTURES } from '@lip/test-support/data';
import { DataError } from '../errors';
import { decodeImage } from './image_decode';
import { listImageFolder, readImageFolder } from './image_folder';
import { readNpy } from './npy';

const scratch = tmpDirPerTest('imgdir');
const put = scratch.put;

/** A w×h gray PNG whose pixel p is (seed + p) mod 256. */
function grayPng(w: number, h: number, seed: number): Uint8Array {
  return pngBytes(
    w,
    h,
    1,
    Uint8Array.from({ length: w * h }, (_, p) => (seed + p) & 255),
  );
}

function folderError(root: string, opts?: Parameters<typeof readImageFolder>[1]): string {
  const err = thrownBy(() => readImageFolder(root, opts));
  expect(err).toBeInstanceOf(DataError);
  expect((err as DataError).exitCode).toBe(2);
  return err.message;
}

const fail = (what: string): DataError => new DataError(what);

describe('listImageFolder orders samples as torchvision ImageFolder does', () => {
  it('classes sorted by name; per class, files of each folder sorted, folders in order of their path', () => {
    for (const rel of [
      'cat/b.png',
      'cat/a.png',
      'cat/a/1.png',
      'cat/a b/2.png',
      'cat/a/x/3.png',
      'cat/sub/4.png',
      'Dog/z.JPG',
      'dog/y.jpeg',
      'dog/notes.txt',
      '.hidden/x.png',
      'cat/.ipynb_checkpoints/c.png',
    ])
      put(rel, 'x');
    const { classNames, samples } = listImageFolder(scratch.dir);
    // Expected order checked against Python: sorted(os.walk('cat')), files sorted per folder.
    expect(classNames).toEqual(['Dog', 'cat', 'dog']);
    expect(samples.map((s) => [s.relative, s.label])).toEqual([
      ['Dog/z.JPG', 0],
      ['cat/a.png', 1],
      ['cat/b.png', 1],
      ['cat/a/1.png', 1],
      ['cat/a b/2.png', 1],
      ['cat/a/x/3.png', 1],
      ['cat/sub/4.png', 1],
      ['dog/y.jpeg', 2],
    ]);
  });
});

describe('readImageFolder', () => {
  it('reads gray PNGs into NHWC [N, H, W, 1] in [0, 1] with labels and class names', () => {
    put('b/1.png', grayPng(3, 2, 10));
    put('a/2.png', grayPng(3, 2, 20));
    put('a/1.png', grayPng(3, 2, 250));
    const d = readImageFolder(scratch.dir);
    expect([d.n, d.height, d.width, d.channels, d.format]).toEqual([3, 2, 3, 1, 'image-folder']);
    expect(d.classNames).toEqual(['a', 'b']);
    expect(Array.from(d.labels)).toEqual([0, 0, 1]);
    const expected = [250, 20, 10].flatMap((seed) => Array.from({ length: 6 }, (_, p) => ((seed + p) & 255) / 255));
    expect(Array.from(d.images)).toEqual(expected.map(Math.fround));
    expect(d.source).toBe(scratch.dir);
  });

  it('RGB and RGBA PNGs give 3 channels (alpha dropped); a gray image among them is repeated in R, G and B', () => {
    const rgba = Uint8Array.from([1, 2, 3, 0, 4, 5, 6, 128]);
    put('a/1.png', grayPng(2, 1, 100)); // gray first: the colour image after it widens the array
    put('a/2.png', pngBytes(2, 1, 4, rgba));
    put('b/1.png', pngBytes(2, 1, 3, Uint8Array.from([7, 8, 9, 10, 11, 12])));
    const d = readImageFolder(scratch.dir, { scale: 1 });
    expect(d.channels).toBe(3);
    expect(Array.from(d.images)).toEqual([100, 100, 100, 101, 101, 101, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('reads JPEGs within 2 levels of the pixels encoded', () => {
    const rgb = Uint8Array.from({ length: 8 * 8 * 3 }, (_, i) => 60 + (i % 3) * 40 + Math.floor(i / 24) * 3);
    put('c/x.jpg', jpegBytes(8, 8, rgb, 100));
    const d = readImageFolder(scratch.dir, { scale: 1 });
    expect([d.height, d.width, d.channels]).toEqual([8, 8, 3]);
    d.images.forEach((v, i) => expect(Math.abs(v - rgb[i]!)).toBeLessThanOrEqual(2));
  });

  it('keeps only the first `limit` samples and decodes nothing after them', () => {
    put('a/1.png', grayPng(2, 2, 0));
    put('a/2.png', grayPng(2, 2, 1));
    put('b/1.png', 'not an image at all');
    const d = readImageFolder(scratch.dir, { limit: 2 });
    expect([d.n, d.images.length, Array.from(d.labels)]).toEqual([2, 8, [0, 0]]);
    expect(folderError(scratch.dir)).toMatch(/b\/1\.png is neither a PNG nor a JPEG image/);
  });

  it('names the first image whose size differs, and the fix', () => {
    put('a/1.png', grayPng(4, 4, 0));
    put('a/2.png', grayPng(4, 4, 0));
    put('b/1.png', grayPng(4, 3, 0));
    expect(folderError(scratch.dir)).toBe(
      `${path.join(scratch.dir, 'b/1.png')} is 4×3 but ${path.join(scratch.dir, 'a/1.png')} is 4×4: every image of a folder must ` +
        'have the same size; resize them to one size first (e.g. ImageMagick: mogrify -resize WxH! *.png)',
    );
  });

  it('rejects corrupt and unsupported images, empty classes and a folder without classes, naming each', () => {
    const good = grayPng(4, 4, 0);
    put('a/1.png', good);
    put('a/2.png', good.subarray(0, good.length - 20));
    expect(folderError(scratch.dir)).toMatch(
      new RegExp(`^${path.join(scratch.dir, 'a/2.png')} is a corrupt or unsupported PNG image \\(.+\\); replace or remove the file$`),
    );
    fs.rmSync(path.join(scratch.dir, 'a/2.png'));
    put('a/3.bmp', 'BM');
    expect(folderError(scratch.dir)).toMatch(/a\/3\.bmp is a BMP image; lip reads PNG and JPEG images only: convert it/);
    fs.rmSync(path.join(scratch.dir, 'a/3.bmp'));
    fs.mkdirSync(path.join(scratch.dir, 'empty'));
    put('other/readme.txt', 'x');
    expect(folderError(scratch.dir)).toMatch(/has class folders without any PNG or JPEG image: 'empty', 'other'; add images or remove the folders/);
    const bare = path.dirname(put('bare/x.png', good));
    expect(folderError(bare)).toMatch(/holds no class folders/);
    expect(folderError(path.join(scratch.dir, 'missing'))).toMatch(/does not exist/);
  });

  it('checks declared image sizes before decoding (PNG and JPEG headers)', () => {
    // A PNG header claiming 100000 × 100000 pixels, followed by almost nothing.
    const png = Buffer.from(grayPng(2, 2, 0));
    png.writeUInt32BE(100000, 16);
    png.writeUInt32BE(100000, 20);
    expect(() => decodeImage(png, 2 ** 26, fail)).toThrow(/declares a 100000×100000 image, 10000000000 pixels, over the limit of 67108864/);
    const jpg = Buffer.from(jpegBytes(8, 8, new Uint8Array(192)));
    const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
    jpg.writeUInt16BE(60000, sof + 5);
    jpg.writeUInt16BE(60000, sof + 7);
    expect(() => decodeImage(jpg, 2 ** 26, fail)).toThrow(/declares a 60000×60000 image/);
  });

  it('decodes an interlaced PNG, and stops an interlaced PNG whose data inflates past its size', () => {
    expect(decodeImage(interlacedPng(1, 1, Uint8Array.from([0, 77])), 100, fail)).toEqual({ width: 1, height: 1, channels: 1, pixels: Uint8Array.from([77]) });
    const bomb = interlacedPng(1, 1, new Uint8Array(32 << 20)); // 32 MiB of zeros deflated to ~32 KB
    const before = process.memoryUsage().arrayBuffers;
    expect(() => decodeImage(bomb, 100, fail)).toThrow(/is a corrupt PNG image: its 1×1 pixels decompress to more than 79 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
  });

  it('caps the number of files', () => {
    for (let i = 0; i < 5; i++) put(`a/${i}.png`, 'x');
    expect(folderError(scratch.dir, { maxFiles: 4 })).toMatch(/holds more than 4 image files, the limit/);
  });
});

describe('readImageFolder and links', () => {
  beforeEach(() => {
    put('a/1.png', grayPng(2, 2, 0));
    put('b/1.png', grayPng(2, 2, 9));
  });

  it('a symlink loop is one error, not an endless walk', () => {
    fs.symlinkSync('..', path.join(scratch.dir, 'a', 'up'));
    expect(folderError(scratch.dir)).toMatch(/a\/up leads to .*, a folder already read \(a symlink loop, or two ways into one folder\); remove the link/);
    fs.unlinkSync(path.join(scratch.dir, 'a', 'up'));
    fs.symlinkSync(path.join(scratch.dir, 'b'), path.join(scratch.dir, 'a', 'again'));
    expect(folderError(scratch.dir)).toMatch(/leads to .*b, a folder already read/);
  });

  it('a folder link leaving the root is refused; a file link is followed', async () => {
    await withTmpDir('outside', (outside) => {
      fs.writeFileSync(path.join(outside, 'o.png'), grayPng(2, 2, 5));
      fs.symlinkSync(path.join(outside, 'o.png'), path.join(scratch.dir, 'b', '2.png'));
      expect(readImageFolder(scratch.dir).n).toBe(3);
      fs.symlinkSync(outside, path.join(scratch.dir, 'c'));
      expect(folderError(scratch.dir)).toMatch(/c is a symlink to the folder .*, outside .*; lip follows folder links only inside the image folder/);
      fs.unlinkSync(path.join(scratch.dir, 'c'));
      fs.symlinkSync('/', path.join(scratch.dir, 'a', 'root'));
      expect(folderError(scratch.dir)).toMatch(/a\/root is a symlink to the folder \/, outside/);
    });
  });

  it('a folder link inside the root is followed', () => {
    put('.pool/x/1.png', grayPng(2, 2, 1)); // hidden, so only reached through the link
    fs.symlinkSync(path.join(scratch.dir, '.pool', 'x'), path.join(scratch.dir, 'b', 'linked'));
    const { samples } = listImageFolder(scratch.dir);
    expect(samples.map((s) => s.relative)).toContain('b/linked/1.png');
  });

  it('a broken link, a link to a device and a FIFO named .png are errors, and never block', () => {
    fs.symlinkSync(path.join(scratch.dir, 'nowhere'), path.join(scratch.dir, 'a', 'dead'));
    expect(folderError(scratch.dir)).toMatch(/a\/dead is a broken symlink \(ENOENT\)/);
    fs.unlinkSync(path.join(scratch.dir, 'a', 'dead'));
    fs.symlinkSync('/dev/zero', path.join(scratch.dir, 'a', 'zero.png'));
    expect(folderError(scratch.dir)).toMatch(/a\/zero\.png is not a regular file/);
    fs.unlinkSync(path.join(scratch.dir, 'a', 'zero.png'));
    execFileSync('mkfifo', [path.join(scratch.dir, 'a', '0.png')]);
    expect(folderError(scratch.dir)).toMatch(/a\/0\.png is not a regular file/);
  });
});

describe('decodeImage on images Pillow wrote and decoded (tools/make-reader-fixtures.py)', () => {
  it.each([
    ['gray.png', 1, 0],
    ['rgb.png', 3, 0],
    ['rgba.png', 3, 0],
    ['la.png', 1, 0],
    ['palette.png', 3, 0],
    ['gray.jpg', 1, 2],
    ['rgb.jpg', 3, 2],
    ['rgb_progressive.jpg', 3, 2],
    ['cmyk.jpg', 3, 2],
  ] as const)('%s: %i channel(s), within %i of Pillow', (name, channels, tolerance) => {
    const file = path.join(READER_FIXTURES, 'images', name);
    const image = decodeImage(fs.readFileSync(file), 1 << 20, fail);
    const expected = readNpy(`${file}.expected.npy`);
    expect([image.height, image.width, image.channels]).toEqual([6, 8, channels]);
    expect(expected.shape).toEqual(channels === 1 ? [6, 8] : [6, 8, 3]);
    let maxDiff = 0;
    image.pixels.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - Number(expected.data[i])));
    });
    expect(maxDiff).toBeLessThanOrEqual(tolerance);
  });

  it('16-bit PNG is reduced to 8 bits: round(v * 255 / 65535)', () => {
    const file = path.join(READER_FIXTURES, 'images', 'gray16.png');
    const image = decodeImage(fs.readFileSync(file), 1 << 20, fail);
    const expected = readNpy(`${file}.expected.npy`);
    expect(image.channels).toBe(1);
    expect(Array.from(image.pixels)).toEqual(values(expected.data).map((v) => Math.round((Number(v) * 255) / 65535)));
  });
});

/** A gray 8-bit Adam7-interlaced PNG whose IDAT holds `raw` (filter bytes and samples), deflated. */
function interlacedPng(width: number, height: number, raw: Uint8Array): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])) >>> 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 1], 8); // depth 8, gray, deflate, adaptive filter, Adam7
  return Uint8Array.from(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', zlib.deflateSync(raw)),
      chunk('IEND', new Uint8Array(0)),
    ]),
  );
}

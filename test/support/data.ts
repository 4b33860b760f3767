/**
 * Test data on disk: tiny writers for .npy, zip/.npz, PNG, JPEG, CIFAR-10
 * batches and IDX splits, written independently of the readers (from the
 * format specs) so a test reading them back checks the reader against the
 * format, not against itself; the reader fixtures' value formula
 * (tools/make-reader-fixtures.py); where the real Fashion-MNIST is; and a
 * local HTTP mirror for download tests.
 */
import * as fs from 'fs';
import * as http from 'http';
import type * as net from 'net';
import * as path from 'path';
import * as zlib from 'zlib';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { encodeIdx } from '@lip/core';
import { seededBytes } from './random';

/** The reader fixtures tools/make-reader-fixtures.py writes. */
export const READER_FIXTURES = path.resolve(__dirname, '../../packages/core/testdata/readers');

/** Value of element `i` in the reader fixtures (tools/make-reader-fixtures.py `value`), by NumPy kind. */
export function fixtureValue(i: number, kind: 'b' | 'u' | 'i' | 'f'): number {
  if (kind === 'b') return i % 3 === 0 ? 1 : 0;
  if (kind === 'u') return (i * 7) % 23;
  if (kind === 'i') return ((i * 7) % 23) - 5;
  return i * 0.25 - 2.5;
}

/** Where Debian's dataset-fashion-mnist installs the IDX files (the locateDataset search order also finds them). */
export const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** True when the Fashion-MNIST test split can be found without a download. */
export function haveFashionMnist(): boolean {
  const dirs = [process.env.LIP_DATA_DIR, FASHION_DIR].filter((d): d is string => !!d);
  return dirs.some((d) => fs.existsSync(`${d}/t10k-images-idx3-ubyte.gz`) || fs.existsSync(`${d}/t10k-images-idx3-ubyte`));
}

export interface IdxSplitOptions {
  /** Images. Default 12. */
  n?: number;
  h?: number;
  w?: number;
  /** Write `.gz` files. Default raw. */
  gzip?: boolean;
  split?: 'test' | 'train';
  /** The pixels, n x h x w. Default seeded random bytes. */
  images?: Uint8Array;
  /** Default i % 10. */
  labels?: Uint8Array;
}

/** Writes an MNIST-style split (`t10k-` or `train-` images and labels, 28 x 28 by default) into `dir`; returns the two paths. */
export function writeIdxSplit(dir: string, opts: IdxSplitOptions = {}): { images: string; labels: string } {
  const n = opts.n ?? 12;
  const h = opts.h ?? 28;
  const w = opts.w ?? 28;
  const prefix = (opts.split ?? 'test') === 'test' ? 't10k' : 'train';
  fs.mkdirSync(dir, { recursive: true });
  const images = encodeIdx([n, h, w], opts.images ?? seededBytes(n * h * w, 11));
  const labels = opts.labels ?? Uint8Array.from({ length: n }, (_, i) => i % 10);
  const ext = opts.gzip ? '.gz' : '';
  const enc = (b: Uint8Array): Uint8Array => (opts.gzip ? zlib.gzipSync(b) : b);
  const files = { images: path.join(dir, `${prefix}-images-idx3-ubyte${ext}`), labels: path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`) };
  fs.writeFileSync(files.images, enc(images));
  fs.writeFileSync(files.labels, enc(encodeIdx([labels.length], labels)));
  return files;
}

/** The `.npy` header dict text NumPy writes. */
export function npyHeaderText(descr: string, shape: readonly number[], fortran = false): string {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${dims}, }`;
}

/**
 * An `.npy` file: magic, version, header length (uint16 LE in 1.0, uint32 in
 * 2.0/3.0), the header padded with spaces and a newline so the data starts at
 * a multiple of 64, then `payload`.
 */
export function npyBytes(header: string, payload: Uint8Array, version: 1 | 2 | 3 = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const raw = Buffer.from(header, version === 3 ? 'utf8' : 'latin1');
  const total = Math.ceil((pre + raw.length + 1) / 64) * 64;
  const head = Buffer.alloc(total, 0x20);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) head.writeUInt16LE(total - pre, 8);
  else head.writeUInt32LE(total - pre, 8);
  raw.copy(head, pre);
  head[total - 1] = 0x0a;
  return Uint8Array.from(Buffer.concat([head, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)]));
}

/** `.npy` bytes of a typed array (little-endian, C order). */
export function npyOf(
  data: Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Float32Array | Float64Array | BigInt64Array,
  shape: readonly number[],
): Uint8Array {
  const descr =
    data instanceof Uint8Array
      ? '|u1'
      : data instanceof Int8Array
        ? '|i1'
        : data instanceof Int16Array
          ? '<i2'
          : data instanceof Uint16Array
            ? '<u2'
            : data instanceof Int32Array
              ? '<i4'
              : data instanceof Float32Array
                ? '<f4'
                : data instanceof Float64Array
                  ? '<f8'
                  : '<i8';
  return npyBytes(npyHeaderText(descr, shape), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflated (default). */
  method?: number;
  /** Uncompressed size written in the headers (default: the true one). */
  declaredSize?: number;
  /** CRC-32 written in the headers (default: the true one). */
  crc?: number;
  /** General purpose flags (bit 0: encrypted). */
  flags?: number;
  /** The compressed bytes to store as they are (default: deflate or copy `data`). */
  raw?: Uint8Array;
}

/** A zip archive (PKWARE APPNOTE 4.3): local headers and data, central directory, end record. */
export function zipBytes(entries: readonly ZipEntrySpec[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const method = e.method ?? 8;
    const body = Buffer.from(e.raw ?? (method === 8 ? zlib.deflateRawSync(e.data) : e.data));
    const name = Buffer.from(e.name, 'utf8');
    const crc = e.crc ?? zlib.crc32(e.data) >>> 0;
    const size = e.declaredSize ?? e.data.length;
    const flags = (e.flags ?? 0) | 0x800; // UTF-8 names
    // Both headers hold the same fields from "version needed": local at byte 4, central at byte 6.
    const fields = (header: Buffer, at: number): void => {
      header.writeUInt16LE(20, at); // version needed to extract
      header.writeUInt16LE(flags, at + 2);
      header.writeUInt16LE(method, at + 4);
      header.writeUInt32LE(crc, at + 10);
      header.writeUInt32LE(body.length, at + 14);
      header.writeUInt32LE(size, at + 18);
      header.writeUInt16LE(name.length, at + 22);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    fields(local, 4);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // version made by
    fields(central, 6);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Uint8Array.from(Buffer.concat([...locals, cd, end]));
}

/** A PNG of `channels` (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) 8-bit samples per pixel, HWC. */
export function pngBytes(width: number, height: number, channels: 1 | 2 | 3 | 4, pixels: Uint8Array): Uint8Array {
  const colorType = { 1: 0, 2: 4, 3: 2, 4: 6 }[channels];
  const png = new PNG({ width, height });
  png.data = Buffer.from(pixels);
  return Uint8Array.from(PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: channels % 2 === 0 } as never));
}

/** A baseline JPEG of RGB pixels (HWC). */
export function jpegBytes(width: number, height: number, rgb: Uint8Array, quality = 95): Uint8Array {
  const rgba = Buffer.alloc(width * height * 4, 255);
  for (let p = 0; p < width * height; p++) rgba.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p);
  return Uint8Array.from(jpeg.encode({ width, height, data: rgba }, quality).data);
}

/** One CIFAR-10 record per label: the label byte, then R, G, B planes of 32×32 given by `pixel(i, c, y, x)`. */
export function cifarBatch(labels: readonly number[], pixel: (i: number, c: number, y: number, x: number) => number): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((label, i) => {
    const rec = i * 3073;
    out[rec] = label;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[rec + 1 + c * 1024 + y * 32 + x] = pixel(i, c, y, x);
  });
  return out;
}

/** How the mirror answers one file: serve it, cut the connection half-way, stall after 10 bytes, 404, or redirect to `moved-<name>`. */
export type MirrorMode = 'ok' | 'cut' | 'stall' | '404' | 'redirect';

export interface Mirror {
  /** Base URL, ending in `/mirror/`. */
  url: string;
  /** The file names requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** A local HTTP mirror on 127.0.0.1 serving `files` at `<url><name>`, misbehaving per `mode[name]`. */
export async function startMirror(files: Record<string, Uint8Array>, mode: Record<string, MirrorMode> = {}): Promise<Mirror> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '').replace(/^\/mirror\//, ''));
    requests.push(name);
    const body = files[name];
    const m = mode[name] ?? 'ok';
    if (m === 'redirect') {
      res.writeHead(302, { Location: `/mirror/moved-${name}` });
      res.end();
      return;
    }
    if (body === undefined || m === '404') {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' });
    if (m === 'ok') {
      res.end(body);
    } else if (m === 'cut') {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
    } else {
      res.write(body.subarray(0, 10)); // then nothing: the client must time out
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mirror/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

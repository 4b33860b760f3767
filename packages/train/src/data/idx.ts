/**
 * IDX files (LeCun's MNIST format), raw or gzip-compressed.
 *
 * Layout: bytes 0-1 are zero, byte 2 is the dtype (0x08 = unsigned byte),
 * byte 3 the rank r, then r big-endian uint32 dimensions, then the data in
 * row-major order. Only unsigned bytes are supported: MNIST-style data needs
 * nothing else.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { DataError, InvalidArgumentError, assertArg } from '../errors';
import { writeFileAtomic } from '../io/atomic';

/** IDX dtype byte of unsigned bytes, the only dtype read and written here. */
export const IDX_UBYTE = 0x08;
/** Largest IDX payload `readIdx` accepts by default (1 GiB): a hostile header or gzip bomb cannot make it allocate more. */
export const DEFAULT_MAX_IDX_BYTES = 2 ** 30;
/** Largest rank accepted; MNIST-style files have rank 1 (labels) or 3 (images). */
export const MAX_IDX_RANK = 8;
/** Fix suggested for a bad file when the caller knows no better one. */
export const DEFAULT_IDX_FIX = 'delete it and run again to re-download, or pass --data DIR';

const IDX_DTYPE_NAMES: Readonly<Record<number, string>> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};
const MAX_DIM = 0xffffffff;
/** Bytes of the largest header: magic, then MAX_IDX_RANK dims. */
const MAX_HEADER_BYTES = 4 + 4 * MAX_IDX_RANK;

/** An IDX array: `data` holds prod(shape) bytes in row-major order. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

export interface ReadIdxOptions {
  /** Largest payload accepted, in bytes. Default DEFAULT_MAX_IDX_BYTES. */
  maxBytes?: number;
  /** How to fix a bad file, appended to every error. Default DEFAULT_IDX_FIX. */
  fix?: string;
}

export interface WriteIdxOptions {
  /** gzip the file. Default: true when the path ends in `.gz`. */
  gzip?: boolean;
}

/**
 * Reads an unsigned-byte IDX file, gzip-compressed (detected from its first
 * bytes) or raw. Any problem throws one `DataError` naming the file and `fix`.
 */
export function readIdx(file: string, opts: ReadIdxOptions = {}): IdxArray {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IDX_BYTES;
  assertArg(Number.isSafeInteger(maxBytes) && maxBytes > 0, () => `'maxBytes' must be a positive integer, got ${maxBytes}`);
  const where = path.resolve(file);
  const fix = opts.fix ?? DEFAULT_IDX_FIX;
  const fail = (what: string): DataError => new DataError(`${where} ${what}; ${fix}`);

  let stat: fs.Stats;
  try {
    stat = fs.statSync(where);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw fail(e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.message})`);
  }
  if (!stat.isFile()) throw fail('is not a regular file');
  if (stat.size === 0) throw fail('is empty (0 bytes)');
  // gzip can grow incompressible data by a little; anything larger than this is not a sane IDX file.
  const maxFileBytes = maxBytes + MAX_HEADER_BYTES + Math.ceil(maxBytes / 100) + 1024;
  if (stat.size > maxFileBytes) throw fail(`is ${stat.size} bytes, over the ${maxBytes}-byte limit for an IDX file`);

  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(where);
  } catch (err) {
    throw fail(`cannot be read (${(err as Error).message})`);
  }

  const isGzip = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  if (!isGzip && where.endsWith('.gz')) {
    throw fail(`is named .gz but is not gzip data (it starts with ${hexBytes(bytes, 4)}, gzip starts with 1f 8b)`);
  }
  if (isGzip) {
    try {
      bytes = zlib.gunzipSync(bytes, { maxOutputLength: maxBytes + MAX_HEADER_BYTES });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ERR_BUFFER_TOO_LARGE') {
        throw fail(`decompresses to more than the ${maxBytes}-byte limit for an IDX file`);
      }
      throw fail(`is truncated or corrupt: gzip cannot decompress it (${e.message})`);
    }
    if (bytes.length === 0) throw fail('is empty once decompressed');
  }
  return decodeIdx(bytes, maxBytes, fail);
}

/** Parses IDX bytes; `fail` builds the error for a message about the file. */
function decodeIdx(bytes: Uint8Array, maxBytes: number, fail: (what: string) => DataError): IdxArray {
  if (bytes.length < 4) throw fail(`is truncated: ${bytes.length} bytes, too short for the 4-byte IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw fail(`is not an IDX file: it starts with ${hexBytes(bytes, 4)}, an IDX file starts with 00 00 08 <rank>`);
  }
  const dtype = bytes[2]!;
  if (dtype !== IDX_UBYTE) {
    const known = IDX_DTYPE_NAMES[dtype];
    throw fail(
      known !== undefined
        ? `holds ${known} data (IDX dtype 0x${hex(dtype)}); only unsigned byte (0x08) IDX files are supported`
        : `has an unknown IDX dtype byte 0x${hex(dtype)}; only unsigned byte (0x08) IDX files are supported`,
    );
  }
  const rank = bytes[3]!;
  if (rank === 0 || rank > MAX_IDX_RANK) throw fail(`declares rank ${rank}; an IDX array here has rank 1 to ${MAX_IDX_RANK}`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw fail(`is truncated: its rank-${rank} header needs ${headerBytes} bytes but the file holds ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  // BigInt: the product of up to eight 32-bit dims overflows a double's integers.
  const declared = shape.reduce((acc, d) => acc * BigInt(d), 1n);
  const dims = `${shape.join('×')} = ${declared} bytes`;
  if (declared > BigInt(maxBytes)) {
    throw fail(`is corrupt: header declares ${dims}, over the ${maxBytes}-byte limit for an IDX file`);
  }
  const size = Number(declared);
  const held = bytes.length - headerBytes;
  if (held < size) throw fail(`is truncated: header declares ${dims} but the file holds ${held}`);
  if (held > size) throw fail(`is corrupt: header declares ${dims} but ${held - size} more bytes follow the data`);
  return { shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, size) };
}

/** Encodes an unsigned-byte IDX array (uncompressed). */
export function encodeIdx(shape: readonly number[], data: Uint8Array): Uint8Array {
  assertArg(Array.isArray(shape) && shape.length >= 1 && shape.length <= MAX_IDX_RANK,
    () => `'shape' must have 1 to ${MAX_IDX_RANK} dimensions, got [${String(shape)}]`);
  for (const d of shape) {
    assertArg(Number.isInteger(d) && d >= 0 && d <= MAX_DIM,
      () => `'shape' dimensions must be integers in [0, ${MAX_DIM}], got [${shape.join(', ')}]`);
  }
  if (!(data instanceof Uint8Array)) throw new InvalidArgumentError(`'data' must be a Uint8Array`);
  const size = shape.reduce((a, d) => a * d, 1);
  assertArg(size === data.length, () => `'data' holds ${data.length} bytes but 'shape' [${shape.join(', ')}] needs ${size}`);
  const headerBytes = 4 + 4 * shape.length;
  const out = new Uint8Array(headerBytes + data.length);
  const view = new DataView(out.buffer);
  out[2] = IDX_UBYTE;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, headerBytes);
  return out;
}

/** Writes an unsigned-byte IDX file atomically, gzip-compressed if asked (default: when the name ends in `.gz`). */
export function writeIdx(file: string, shape: readonly number[], data: Uint8Array, opts: WriteIdxOptions = {}): void {
  const encoded = encodeIdx(shape, data);
  const gzip = opts.gzip ?? file.endsWith('.gz');
  writeFileAtomic(file, gzip ? zlib.gzipSync(encoded) : encoded);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

function hexBytes(bytes: Uint8Array, n: number): string {
  return Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * IDX files (LeCun's MNIST format), raw or gzip-compressed.
 *
 * Layout: bytes 0-1 are zero, byte 2 is the element type (0x08 unsigned
 * byte, 0x09 signed byte, 0x0b int16, 0x0c int32, 0x0d float32, 0x0e
 * float64), byte 3 the rank r, then r big-endian uint32 dimensions, then the
 * elements, big-endian, in row-major order.
 *
 * `readIdxArray` reads any of these; `readIdx` keeps the unsigned-byte API the
 * MNIST-style loaders use (its data is a view of the file, no copy).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { writeFileAtomic } from '../atomic';
import { DataError, InvalidArgumentError, assertArg } from '../errors';
import { DEFAULT_MAX_ELEMENTS } from './limits';
import { DTYPE_BYTES, DType, FailFn, NdArray, checkDeclaredSize, decodeElements, shapeText } from './ndarray';
import { hexBytes } from './npy';
import { regularFileSize } from './read_file';

/** IDX dtype byte of unsigned bytes, the type of MNIST-style files. */
export const IDX_UBYTE = 0x08;
/** Largest IDX payload accepted by default (1 GiB): a hostile header or gzip bomb cannot make a reader allocate more. */
export const DEFAULT_MAX_IDX_BYTES = 2 ** 30;
/** Largest rank accepted; MNIST-style files have rank 1 (labels) or 3 (images). */
export const MAX_IDX_RANK = 8;
/** Fix suggested for a bad file when the caller knows no better one. */
export const DEFAULT_IDX_FIX = 'delete it and run again to re-download, or pass --data DIR';

/** IDX element type bytes and their dtypes (elements are big-endian in the file). */
export const IDX_DTYPES: Readonly<Record<number, { dtype: DType; name: string }>> = {
  0x08: { dtype: 'uint8', name: 'unsigned byte' },
  0x09: { dtype: 'int8', name: 'signed byte' },
  0x0b: { dtype: 'int16', name: 'int16' },
  0x0c: { dtype: 'int32', name: 'int32' },
  0x0d: { dtype: 'float32', name: 'float32' },
  0x0e: { dtype: 'float64', name: 'float64' },
};
const MAX_DIM = 0xffffffff;
/** Bytes of the largest header: magic, then MAX_IDX_RANK dims. */
const MAX_HEADER_BYTES = 4 + 4 * MAX_IDX_RANK;

/** An unsigned-byte IDX array: `data` holds prod(shape) bytes in row-major order. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Typed arrays IDX can store; the array's type picks the IDX element type. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface ReadIdxOptions {
  /** Largest payload accepted, in bytes. Default DEFAULT_MAX_IDX_BYTES. */
  maxBytes?: number;
  /** Largest number of elements accepted (`readIdxArray`). Default DEFAULT_MAX_ELEMENTS. */
  maxElements?: number;
  /** How to fix a bad file, appended to every error. Default DEFAULT_IDX_FIX. */
  fix?: string;
}

export interface WriteIdxOptions {
  /** gzip the file. Default: true when the path ends in `.gz`. */
  gzip?: boolean;
}

/** The decoded header and where the elements are. */
interface IdxLayout {
  code: number;
  shape: number[];
  count: number;
  bytes: Uint8Array;
  dataOffset: number;
}

/**
 * Reads an unsigned-byte IDX file, gzip-compressed (detected from its first
 * bytes) or raw. Any problem, including another element type, throws one
 * `DataError` naming the file and `fix`.
 */
export function readIdx(file: string, opts: ReadIdxOptions = {}): IdxArray {
  const layout = loadIdx(file, opts, true);
  return { shape: layout.shape, data: new Uint8Array(layout.bytes.buffer, layout.bytes.byteOffset + layout.dataOffset, layout.count) };
}

/**
 * Reads an IDX file of any element type and shape, gzip-compressed or raw,
 * into native C-order elements. Any problem throws one `DataError` naming the
 * file and `fix`.
 */
export function readIdxArray(file: string, opts: ReadIdxOptions = {}): NdArray & { data: IdxData } {
  return idxArrayOf(loadIdx(file, opts, false));
}

/**
 * `readIdxArray`, with the gunzip on libuv's thread pool: the calling thread
 * is free (e.g. to read a model) while the bytes are inflated. The same
 * checks and errors.
 */
export async function readIdxArrayAsync(file: string, opts: ReadIdxOptions = {}): Promise<NdArray & { data: IdxData }> {
  const read = idxReader(file, opts);
  // Read here (a few ms): an fs.promises read would need this thread's event loop between its chunks, so it and the
  // gunzip after it would wait for whatever keeps this thread busy.
  const { bytes: raw, gzipped } = read.readFile();
  let bytes = raw;
  if (gzipped) {
    // One output chunk of the size the gzip trailer declares (capped): zlib's default 16 KiB chunks would take
    // hundreds of round trips between the thread pool and this thread, about twice the time of gunzipSync.
    const chunkSize = Math.min(Math.max(gzipDeclaredSize(raw) + 1, zlib.constants.Z_DEFAULT_CHUNK), read.maxOutputLength, MAX_GUNZIP_CHUNK);
    bytes = await new Promise<Uint8Array>((resolve, reject) =>
      zlib.gunzip(raw, { maxOutputLength: read.maxOutputLength, chunkSize }, (err, out) => (err ? reject(read.gunzipError(err)) : resolve(out))),
    );
  }
  return idxArrayOf(read.decode(bytes, false, gzipped));
}

/** Largest output chunk of an asynchronous gunzip: a corrupt trailer cannot make it allocate more at once. */
const MAX_GUNZIP_CHUNK = 64 * 2 ** 20;

/** The uncompressed size a gzip member's trailer declares (ISIZE: the size mod 2^32), or 0 when too short to hold one. */
function gzipDeclaredSize(bytes: Uint8Array): number {
  if (bytes.length < 18) return 0;
  const at = bytes.length - 4;
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function loadIdx(file: string, opts: ReadIdxOptions, ubyteOnly: boolean): IdxLayout {
  const read = idxReader(file, opts);
  const { bytes: raw, gzipped } = read.readFile();
  let bytes = raw;
  if (gzipped) {
    try {
      bytes = zlib.gunzipSync(raw, { maxOutputLength: read.maxOutputLength });
    } catch (err) {
      throw read.gunzipError(err);
    }
  }
  return read.decode(bytes, ubyteOnly, gzipped);
}

/** The elements of a decoded IDX file, in its own element type. */
function idxArrayOf(layout: IdxLayout): NdArray & { data: IdxData } {
  const dtype = IDX_DTYPES[layout.code]!.dtype;
  // IDX types map to uint8, int8, int16, int32, float32, float64: never a BigInt array.
  return { dtype, shape: layout.shape, data: decodeElements(layout.bytes, layout.dataOffset, layout.count, dtype, false) as IdxData };
}

/** What `idxReader` returns. */
interface IdxReader {
  where: string;
  fail: FailFn;
  maxOutputLength: number;
  /** The file's bytes, and whether they are gzip data (a .gz name on other data throws). */
  readFile(): { bytes: Uint8Array; gzipped: boolean };
  gunzipError(err: unknown): DataError;
  decode(bytes: Uint8Array, ubyteOnly: boolean, inflated: boolean): IdxLayout;
}

/** The checks of an IDX file read, before (size, name), during (gzip) and after (header) reading its bytes. */
function idxReader(file: string, opts: ReadIdxOptions): IdxReader {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IDX_BYTES;
  const maxElements = opts.maxElements ?? DEFAULT_MAX_ELEMENTS;
  assertArg(Number.isSafeInteger(maxBytes) && maxBytes > 0, () => `'maxBytes' must be a positive integer, got ${maxBytes}`);
  assertArg(Number.isSafeInteger(maxElements) && maxElements > 0, () => `'maxElements' must be a positive integer, got ${maxElements}`);
  const where = path.resolve(file);
  const fix = opts.fix ?? DEFAULT_IDX_FIX;
  const fail: FailFn = (what, ownFix) => new DataError(`${where} ${what}; ${ownFix ?? fix}`);

  const size = regularFileSize(where, fail);
  // gzip can grow incompressible data by a little; anything larger than this is not a sane IDX file.
  const maxFileBytes = maxBytes + MAX_HEADER_BYTES + Math.ceil(maxBytes / 100) + 1024;
  if (size > maxFileBytes) throw fail(`is ${size} bytes, over the ${maxBytes}-byte limit for an IDX file`);
  return {
    where,
    fail,
    maxOutputLength: maxBytes + MAX_HEADER_BYTES,
    readFile(): { bytes: Uint8Array; gzipped: boolean } {
      let bytes: Uint8Array;
      try {
        bytes = fs.readFileSync(where);
      } catch (err) {
        throw fail(`cannot be read (${(err as Error).message})`);
      }
      const gzipped = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
      if (!gzipped && where.endsWith('.gz')) {
        throw fail(`is named .gz but is not gzip data (it starts with ${hexBytes(bytes, 4)}, gzip starts with 1f 8b)`);
      }
      return { bytes, gzipped };
    },
    gunzipError(err: unknown): DataError {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ERR_BUFFER_TOO_LARGE') return fail(`decompresses to more than the ${maxBytes}-byte limit for an IDX file`);
      return fail(`is truncated or corrupt: gzip cannot decompress it (${e.message})`);
    },
    /** The layout of the file's bytes (`inflated`: gunzipped from the file). */
    decode(bytes: Uint8Array, ubyteOnly: boolean, inflated: boolean): IdxLayout {
      if (inflated && bytes.length === 0) throw fail('is empty once decompressed');
      return decodeIdx(bytes, maxBytes, maxElements, ubyteOnly, fail);
    },
  };
}

/** Parses IDX bytes; `fail` builds the error for a message about the file. */
function decodeIdx(bytes: Uint8Array, maxBytes: number, maxElements: number, ubyteOnly: boolean, fail: FailFn): IdxLayout {
  if (bytes.length < 4) throw fail(`is truncated: ${bytes.length} bytes, too short for the 4-byte IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw fail(`is not an IDX file: it starts with ${hexBytes(bytes, 4)}, an IDX file starts with 00 00 <type> <rank>`);
  }
  const code = bytes[2]!;
  const type = IDX_DTYPES[code];
  if (type === undefined) {
    throw fail(
      `has an unknown IDX dtype byte 0x${hex(code)}; IDX element types are 0x08 (unsigned byte), 0x09, 0x0b, 0x0c, 0x0d, 0x0e` +
        (ubyteOnly ? ', and only unsigned byte (0x08) IDX files are supported here' : ''),
    );
  }
  if (ubyteOnly && code !== IDX_UBYTE) {
    throw fail(`holds ${type.name} data (IDX dtype 0x${hex(code)}); only unsigned byte (0x08) IDX files are supported here`);
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
  const itemBytes = DTYPE_BYTES[type.dtype];
  // BigInt: the product of up to eight 32-bit dims overflows a double's integers.
  const declared = shape.reduce((acc, d) => acc * BigInt(d), 1n) * BigInt(itemBytes);
  const dims = `${shapeText(shape)}${itemBytes > 1 ? ` ${type.dtype}` : ''} = ${declared} bytes`;
  if (declared > BigInt(maxBytes)) {
    throw fail(`is corrupt: header declares ${dims}, over the ${maxBytes}-byte limit for an IDX file`);
  }
  const held = bytes.length - headerBytes;
  if (held < Number(declared)) throw fail(`is truncated: header declares ${dims} but the file holds ${held}`);
  if (held > Number(declared)) throw fail(`is corrupt: header declares ${dims} but ${held - Number(declared)} more bytes follow the data`);
  const count = checkDeclaredSize(shape, type.dtype, held, { maxElements, fail });
  return { code, shape, count, bytes, dataOffset: headerBytes };
}

/** IDX element type byte of a typed array, or undefined. */
function idxCodeOf(data: unknown): number | undefined {
  if (data instanceof Uint8Array) return 0x08;
  if (data instanceof Int8Array) return 0x09;
  if (data instanceof Int16Array) return 0x0b;
  if (data instanceof Int32Array) return 0x0c;
  if (data instanceof Float32Array) return 0x0d;
  if (data instanceof Float64Array) return 0x0e;
  return undefined;
}

/** Encodes an IDX array (uncompressed); the element type follows `data`'s type. */
export function encodeIdx(shape: readonly number[], data: IdxData): Uint8Array {
  assertArg(
    Array.isArray(shape) && shape.length >= 1 && shape.length <= MAX_IDX_RANK,
    () => `'shape' must have 1 to ${MAX_IDX_RANK} dimensions, got [${String(shape)}]`,
  );
  for (const d of shape) {
    assertArg(Number.isInteger(d) && d >= 0 && d <= MAX_DIM, () => `'shape' dimensions must be integers in [0, ${MAX_DIM}], got [${shape.join(', ')}]`);
  }
  const code = idxCodeOf(data);
  if (code === undefined) {
    throw new InvalidArgumentError(`'data' must be a Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array or Float64Array`);
  }
  const size = shape.reduce((a, d) => a * d, 1);
  assertArg(
    size === data.length,
    () => `'data' holds ${data.length} ${code === IDX_UBYTE ? 'bytes' : 'elements'} but 'shape' [${shape.join(', ')}] needs ${size}`,
  );
  const headerBytes = 4 + 4 * shape.length;
  const itemBytes = data.BYTES_PER_ELEMENT;
  const out = new Uint8Array(headerBytes + data.length * itemBytes);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const at = (i: number): number => headerBytes + i * itemBytes;
  // Big-endian elements.
  if (data instanceof Uint8Array) out.set(data, headerBytes);
  else if (data instanceof Int8Array) data.forEach((v, i) => view.setInt8(at(i), v));
  else if (data instanceof Int16Array) data.forEach((v, i) => view.setInt16(at(i), v, false));
  else if (data instanceof Int32Array) data.forEach((v, i) => view.setInt32(at(i), v, false));
  else if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(at(i), v, false));
  else data.forEach((v, i) => view.setFloat64(at(i), v, false));
  return out;
}

/** Writes an IDX file atomically, gzip-compressed if asked (default: when the name ends in `.gz`). */
export function writeIdx(file: string, shape: readonly number[], data: IdxData, opts: WriteIdxOptions = {}): void {
  const encoded = encodeIdx(shape, data);
  const gzip = opts.gzip ?? file.endsWith('.gz');
  writeFileAtomic(file, gzip ? zlib.gzipSync(encoded) : encoded);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

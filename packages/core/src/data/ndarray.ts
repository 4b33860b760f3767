/**
 * N-dimensional arrays as the readers return them: a NumPy-named element
 * type, a shape, and the elements in C (row-major) order in a native typed
 * array. Decoding always copies, so the result never aliases a file buffer and
 * is aligned whatever the header length.
 */
import * as os from 'os';
import { DataError } from '../errors';
import { DEFAULT_MAX_ELEMENTS } from './limits';

/** Element types, named as in NumPy. */
export type DType = 'bool' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64' | 'float16' | 'float32' | 'float64';

/** Elements of an `NdArray`: `bool` as 0/1 bytes, `float16` widened to a Float32Array, 64-bit integers as BigInts. */
export type NdData =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | BigUint64Array | BigInt64Array | Float32Array | Float64Array;

export interface NdArray {
  dtype: DType;
  shape: number[];
  /** prod(shape) elements in C (row-major) order. */
  data: NdData;
}

/** Builds the error for a message about one file; `fix` replaces the caller's default fix. */
export type FailFn = (what: string, fix?: string) => DataError;

/** Bytes per stored element. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  bool: 1,
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  uint64: 8,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
};

export function isFloatDType(dtype: DType): boolean {
  return dtype === 'float16' || dtype === 'float32' || dtype === 'float64';
}

/** Byte order of this machine. */
export const HOST_LITTLE_ENDIAN = os.endianness() === 'LE';

/** prod(shape), exact (BigInt: up to 32 dims of 2^53 overflow a double). */
export function elementCount(shape: readonly number[]): bigint {
  return shape.reduce((acc, d) => acc * BigInt(d), 1n);
}

/** `3×28×28` (or `scalar` for shape []). */
export function shapeText(shape: readonly number[]): string {
  return shape.length === 0 ? 'scalar' : shape.join('×');
}

/**
 * Checks a declared shape before anything is allocated: integer dims, at most
 * `maxElements` elements, and `count × itemBytes` bytes held by the file
 * (`heldBytes`, exact unless `allowTrailing`). `fail` names the file.
 */
export function checkDeclaredSize(shape: readonly number[], dtype: DType, heldBytes: number, opts: { maxElements?: number; fail: FailFn }): number {
  const maxElements = opts.maxElements ?? DEFAULT_MAX_ELEMENTS;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw opts.fail(`is corrupt: its header declares shape ${shapeText(shape)} with a dimension that is not a non-negative integer`);
  }
  const count = elementCount(shape);
  const bytes = count * BigInt(DTYPE_BYTES[dtype]);
  const dims = `${shapeText(shape)} ${dtype} = ${bytes} bytes`;
  if (count > BigInt(maxElements)) {
    throw opts.fail(
      `is too large or corrupt: its header declares ${dims}, ${count} elements, over the limit of ${maxElements} elements`,
      `lip reads at most ${maxElements} elements per array: split the data into smaller files`,
    );
  }
  if (BigInt(heldBytes) < bytes) throw opts.fail(`is truncated: its header declares ${dims} but the file holds ${heldBytes}`);
  if (BigInt(heldBytes) > bytes) throw opts.fail(`is corrupt: its header declares ${dims} but ${BigInt(heldBytes) - bytes} more bytes follow the data`);
  return Number(count);
}

/**
 * Copies `count` elements of `dtype` stored at `bytes[offset..]` in the given
 * byte order into a new native array.
 */
export function decodeElements(bytes: Uint8Array, offset: number, count: number, dtype: DType, littleEndian: boolean): NdData {
  const size = DTYPE_BYTES[dtype];
  // A fresh buffer (bytes may be a Buffer, whose slice() is a view into a shared pool).
  const copy = new Uint8Array(count * size);
  copy.set(bytes.subarray(offset, offset + count * size));
  if (size > 1 && littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(copy, size);
  const buf = copy.buffer;
  switch (dtype) {
    case 'bool': {
      for (let i = 0; i < copy.length; i++) copy[i] = copy[i] === 0 ? 0 : 1;
      return copy;
    }
    case 'uint8':
      return copy;
    case 'int8':
      return new Int8Array(buf);
    case 'uint16':
      return new Uint16Array(buf);
    case 'int16':
      return new Int16Array(buf);
    case 'uint32':
      return new Uint32Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'uint64':
      return new BigUint64Array(buf);
    case 'int64':
      return new BigInt64Array(buf);
    case 'float16':
      return halfToFloat32(new Uint16Array(buf));
    case 'float32':
      return new Float32Array(buf);
    case 'float64':
      return new Float64Array(buf);
  }
}

/** Reverses each `size`-byte group in place. */
function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i + size <= b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = b[lo]!;
      b[lo] = b[hi]!;
      b[hi] = t;
    }
  }
}

/** IEEE 754 binary16 bit patterns to float32 values (exact: every half is a float). */
function halfToFloat32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const v = h[i]!;
    const sign = v & 0x8000 ? -1 : 1;
    const exp = (v >> 10) & 0x1f;
    const frac = v & 0x3ff;
    if (exp === 0)
      out[i] = sign * frac * 2 ** -24; // subnormal: frac / 2^10 * 2^-14
    else if (exp === 0x1f) out[i] = frac === 0 ? sign * Infinity : NaN;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/**
 * Reorders column-major (Fortran) elements of `shape` into row-major order:
 * element (i0, ..., ik) sits at sum(ij * stride_j), stride_0 = 1,
 * stride_j = stride_{j-1} * shape_{j-1}.
 */
export function fortranToC<T extends NdData>(data: T, shape: readonly number[]): T {
  const rank = shape.length;
  if (rank <= 1 || data.length === 0) return data;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const strides = new Array<number>(rank);
  strides[0] = 1;
  for (let j = 1; j < rank; j++) strides[j] = strides[j - 1]! * shape[j - 1]!;
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let dst = 0; dst < data.length; dst++) {
    out[dst] = data[src]!;
    // Odometer over the C-order index, last axis fastest, keeping `src` in step.
    for (let j = rank - 1; j >= 0; j--) {
      if (++index[j]! < shape[j]!) {
        src += strides[j]!;
        break;
      }
      src -= (shape[j]! - 1) * strides[j]!;
      index[j] = 0;
    }
  }
  return out;
}

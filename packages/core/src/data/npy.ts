/**
 * NumPy `.npy` files, format versions 1.0, 2.0 and 3.0
 * (numpy/lib/format.py): the magic `\x93NUMPY`, major and minor version
 * bytes, the header length (uint16 little-endian in 1.0, uint32 in 2.0 and
 * 3.0), then the header, a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` (latin-1;
 * UTF-8 in 3.0) padded with spaces to a newline, then the raw elements.
 *
 * Numeric dtypes only (`b1`, `u1`..`u8`, `i1`..`i8`, `f2`, `f4`, `f8`, either
 * byte order): object arrays (`|O`) would need unpickling, which lip never
 * does, and strings, complex numbers, dates and structured dtypes are refused
 * with a message that says so.
 */
import * as path from 'path';
import { DataError, assertArg } from '../errors';
import { DEFAULT_MAX_ARRAY_BYTES, DEFAULT_MAX_ELEMENTS, MAX_ARRAY_RANK, NPY_MAX_HEADER_BYTES } from './limits';
import { DType, FailFn, HOST_LITTLE_ENDIAN, NdArray, checkDeclaredSize, decodeElements, fortranToC } from './ndarray';
import { readBoundedFile } from './read_file';

/** Fix suggested for a bad array file when the caller knows no better one. */
export const DEFAULT_ARRAY_FIX = 'replace it with an intact copy (for example re-save it with numpy.save)';

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface ReadArrayOptions {
  /** Largest number of elements accepted. Default DEFAULT_MAX_ELEMENTS. */
  maxElements?: number;
  /** Largest file (or entry) accepted, in bytes. Default DEFAULT_MAX_ARRAY_BYTES. */
  maxBytes?: number;
  /** How to fix a bad file, appended to every error. Default DEFAULT_ARRAY_FIX. */
  fix?: string;
}

/** What an `.npy` header says. */
export interface NpyHeader {
  version: [number, number];
  dtype: DType;
  littleEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
  /** Offset of the first element. */
  dataOffset: number;
}

/** Reads an `.npy` file. Any problem throws one `DataError` naming the file and the fix. */
export function readNpy(file: string, opts: ReadArrayOptions = {}): NdArray {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_ARRAY_BYTES;
  assertLimits(opts);
  const where = path.resolve(file);
  const fix = opts.fix ?? DEFAULT_ARRAY_FIX;
  const fail: FailFn = (what, ownFix) => new DataError(`${where} ${what}; ${ownFix ?? fix}`);
  const bytes = readBoundedFile(where, maxBytes + NPY_MAX_HEADER_BYTES + 12, fail, '.npy file');
  return decodeNpy(bytes, { ...opts, fail });
}

/**
 * Parses `.npy` bytes (a file, or an entry of an `.npz`). `fail` builds the
 * error for a message about the file.
 */
export function decodeNpy(bytes: Uint8Array, opts: Omit<ReadArrayOptions, 'fix'> & { fail: FailFn }): NdArray {
  const header = parseNpyHeader(bytes, opts.fail);
  const count = checkDeclaredSize(header.shape, header.dtype, bytes.length - header.dataOffset, {
    maxElements: opts.maxElements ?? DEFAULT_MAX_ELEMENTS,
    fail: opts.fail,
  });
  let data = decodeElements(bytes, header.dataOffset, count, header.dtype, header.littleEndian);
  if (header.fortranOrder) data = fortranToC(data, header.shape);
  return { dtype: header.dtype, shape: header.shape, data };
}

/** Parses the magic, version and header dict of `.npy` bytes. */
export function parseNpyHeader(bytes: Uint8Array, fail: FailFn): NpyHeader {
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw fail(`is not a .npy file: it starts with ${hexBytes(bytes, 6)}, a .npy file starts with 93 4e 55 4d 50 59 (\\x93NUMPY)`);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3 || minor !== 0) {
    throw fail(`has .npy format version ${major}.${minor}; versions 1.0, 2.0 and 3.0 are supported`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw fail(`is truncated: ${bytes.length} bytes, too short for a version ${major}.0 .npy header`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lengthBytes;
  if (headerLength > NPY_MAX_HEADER_BYTES) {
    throw fail(`is corrupt: its .npy header declares ${headerLength} bytes, over the ${NPY_MAX_HEADER_BYTES}-byte limit NumPy also applies`);
  }
  const dataOffset = headerStart + headerLength;
  if (bytes.length < dataOffset) {
    throw fail(`is truncated: its .npy header declares ${headerLength} bytes but the file holds ${bytes.length - headerStart} after the preamble`);
  }
  const raw = bytes.subarray(headerStart, dataOffset);
  const text = major === 3 ? new TextDecoder('utf-8', { fatal: false }).decode(raw) : Buffer.from(raw).toString('latin1');
  let dict: Map<string, PyValue>;
  try {
    dict = parsePyDict(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw fail(`has a malformed .npy header (${err.message}): ${JSON.stringify(text.trim().slice(0, 120))}`);
  }
  const keys = [...dict.keys()].sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    throw fail(`has a .npy header with keys ${keys.map((k) => `'${k}'`).join(', ') || 'none'}; expected exactly 'descr', 'fortran_order' and 'shape'`);
  }
  const descr = dict.get('descr')!;
  const fortranOrder = dict.get('fortran_order')!;
  const shape = dict.get('shape')!;
  if (typeof fortranOrder !== 'boolean') throw fail(`has a .npy header whose 'fortran_order' is ${pyText(fortranOrder)}, not True or False`);
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number')) {
    throw fail(`has a .npy header whose 'shape' is ${pyText(shape)}, not a tuple of integers`);
  }
  const dims = shape as number[];
  if (dims.length > MAX_ARRAY_RANK) throw fail(`declares a rank-${dims.length} array; at most ${MAX_ARRAY_RANK} dimensions are supported`);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw fail(`is corrupt: its .npy header declares shape (${dims.join(', ')}), with a dimension that is not a non-negative integer`);
  }
  const { dtype, littleEndian } = parseDescr(descr, fail);
  return { version: [major, minor], dtype, littleEndian, fortranOrder, shape: dims, dataOffset };
}

const KIND_NAMES: Readonly<Record<string, string>> = {
  O: 'Python objects',
  U: 'unicode strings',
  S: 'byte strings',
  a: 'byte strings',
  V: 'raw void records',
  c: 'complex numbers',
  M: 'datetimes',
  m: 'timedeltas',
};

/** `'<f4'` to its dtype and byte order. */
function parseDescr(descr: PyValue, fail: FailFn): { dtype: DType; littleEndian: boolean } {
  if (typeof descr !== 'string') {
    throw fail(`holds a structured array (dtype ${pyText(descr)}); lip reads plain numeric arrays only`, 'save each field as an array of its own');
  }
  const m = /^([<>|=]?)([a-zA-Z])(\d*)(\[\w+\])?$/.exec(descr);
  const kind = m?.[2] ?? '';
  const size = Number(m?.[3] || '0');
  const dtypes: Readonly<Record<string, DType>> = {
    b1: 'bool',
    u1: 'uint8',
    i1: 'int8',
    u2: 'uint16',
    i2: 'int16',
    u4: 'uint32',
    i4: 'int32',
    u8: 'uint64',
    i8: 'int64',
    f2: 'float16',
    f4: 'float32',
    f8: 'float64',
  };
  const dtype = m && m[4] === undefined ? dtypes[`${kind}${size}`] : undefined;
  if (dtype === undefined) {
    const what = KIND_NAMES[kind];
    const convert = "convert it to a numeric array first (e.g. numpy.save(path, a.astype('float32')))";
    throw fail(
      what !== undefined
        ? `holds ${what} (dtype '${descr}')${kind === 'O' ? ', which only unpickling could read, and lip never unpickles' : ''}; ` +
            'lip reads numeric arrays only (bool, int, uint, float)'
        : `has an unsupported dtype '${descr}'; lip reads b1, u1, i1, u2, i2, u4, i4, u8, i8, f2, f4, f8, little- or big-endian`,
      convert,
    );
  }
  // '|' (byte order not applicable) reads as little-endian; '=' is the writer's native order, taken as ours.
  const order = m![1];
  return { dtype, littleEndian: order === '>' ? false : order === '=' ? HOST_LITTLE_ENDIAN : true };
}

/** The values a .npy header dict may hold. */
type PyValue = string | number | boolean | null | PyValue[];

/**
 * Parses the Python literal of a .npy header: a dict of string keys whose
 * values are strings, integers, True/False/None, tuples and lists. Throws
 * SyntaxError; never evaluates anything.
 */
function parsePyDict(text: string): Map<string, PyValue> {
  let pos = 0;
  const peek = (): string => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
    return text[pos] ?? '';
  };
  const expect = (c: string): void => {
    if (peek() !== c) throw new SyntaxError(`expected '${c}' at offset ${pos}, found ${JSON.stringify(text[pos] ?? 'end')}`);
    pos++;
  };
  const parseString = (): string => {
    const quote = text[pos]!;
    const end = text.indexOf(quote, pos + 1);
    if (end < 0) throw new SyntaxError(`unterminated string at offset ${pos}`);
    const s = text.slice(pos + 1, end);
    if (s.includes('\\')) throw new SyntaxError(`escape sequence in a string at offset ${pos}`);
    pos = end + 1;
    return s;
  };
  // Depth is bounded: the header is at most NPY_MAX_HEADER_BYTES long, but keep recursion shallow anyway.
  const parseValue = (depth: number): PyValue => {
    if (depth > 8) throw new SyntaxError('nested too deeply');
    const c = peek();
    if (c === "'" || c === '"') return parseString();
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      pos++;
      const items: PyValue[] = [];
      while (peek() !== close) {
        items.push(parseValue(depth + 1));
        if (peek() === ',') pos++;
        else if (peek() !== close) throw new SyntaxError(`expected ',' or '${close}' at offset ${pos}`);
      }
      pos++;
      return items;
    }
    const word = /^(-?\d+)L?|^True|^False|^None/.exec(text.slice(pos, pos + 40));
    if (!word) throw new SyntaxError(`unexpected ${JSON.stringify(text.slice(pos, pos + 10) || 'end')} at offset ${pos}`);
    pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    const n = Number(word[1]);
    if (!Number.isSafeInteger(n)) throw new SyntaxError(`integer ${word[1]} out of range`);
    return n;
  };
  const dict = new Map<string, PyValue>();
  expect('{');
  while (peek() !== '}') {
    const q = peek();
    if (q !== "'" && q !== '"') throw new SyntaxError(`expected a quoted key at offset ${pos}`);
    const key = parseString();
    if (dict.has(key)) throw new SyntaxError(`key '${key}' given twice`);
    expect(':');
    dict.set(key, parseValue(0));
    if (peek() === ',') pos++;
    else if (peek() !== '}') throw new SyntaxError(`expected ',' or '}' at offset ${pos}`);
  }
  pos++;
  if (peek() !== '') throw new SyntaxError(`unexpected ${JSON.stringify(text.slice(pos, pos + 10))} after the dict`);
  return dict;
}

function pyText(v: PyValue): string {
  return JSON.stringify(v) ?? String(v);
}

export function assertLimits(opts: { maxElements?: number; maxBytes?: number }): void {
  for (const key of ['maxElements', 'maxBytes'] as const) {
    const v = opts[key];
    assertArg(v === undefined || (Number.isSafeInteger(v) && v > 0), () => `'${key}' must be a positive integer, got ${v}`);
  }
}

export function hexBytes(bytes: Uint8Array, n: number): string {
  return Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ') || '(nothing)';
}

/**
 * NumPy `.npz` archives: a zip of `.npy` files, stored or deflated
 * (`numpy.savez` / `numpy.savez_compressed`), read with yauzl straight from
 * the file into memory. Nothing is ever extracted to disk.
 *
 * Hostile archives: the central directory's entry count and each selected
 * entry's declared size are checked against the limits before anything is
 * inflated; while inflating, the actual bytes are counted and the entry stops
 * at its declared size (a zip bomb fails after at most that many bytes), and
 * its CRC-32 is checked. Entry names that are absolute, contain `..` or
 * backslashes make yauzl refuse the whole archive: we never write entries
 * anywhere, but such a name only appears in a crafted file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import type * as yauzl from 'yauzl';
import { crc32 } from '../crc32';
import { DataError, assertArg } from '../errors';
import { DEFAULT_MAX_ARRAY_BYTES, DEFAULT_MAX_NPZ_ENTRIES, DEFAULT_MAX_NPZ_TOTAL_BYTES } from './limits';
import { FailFn, NdArray } from './ndarray';
import { ReadArrayOptions, assertLimits, decodeNpy } from './npy';
import { regularFileSize } from './read_file';

// Loaded at the first archive: most runs read none, and loading it costs start-up time.
const yauzlModule = (): typeof yauzl => require('yauzl');

export interface ReadNpzOptions extends ReadArrayOptions {
  /**
   * Arrays to read, by key (entry name without `.npy`), or a function that
   * picks them from the archive's keys. Default: all.
   */
  keys?: readonly string[] | ((available: readonly string[]) => readonly string[]);
  /** Largest total decompressed size of the arrays read, in bytes. Default DEFAULT_MAX_NPZ_TOTAL_BYTES. (`maxBytes` caps each entry.) */
  maxTotalBytes?: number;
  /** Largest number of entries in the archive. Default DEFAULT_MAX_NPZ_ENTRIES. */
  maxEntries?: number;
}

export interface NpzContents {
  /** Every array key in the archive, in archive order. */
  keys: string[];
  /** The arrays read, by key. */
  arrays: Map<string, NdArray>;
}

/** Reads the arrays of an `.npz` file. Any problem throws one `DataError` naming the file (and entry) and the fix. */
export async function readNpz(file: string, opts: ReadNpzOptions = {}): Promise<NpzContents> {
  assertLimits(opts);
  const maxEntryBytes = opts.maxBytes ?? DEFAULT_MAX_ARRAY_BYTES;
  const maxTotalBytes = opts.maxTotalBytes ?? DEFAULT_MAX_NPZ_TOTAL_BYTES;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_NPZ_ENTRIES;
  for (const [key, v] of [
    ['maxTotalBytes', maxTotalBytes],
    ['maxEntries', maxEntries],
  ] as const) {
    assertArg(Number.isSafeInteger(v) && v > 0, () => `'${key}' must be a positive integer, got ${v}`);
  }
  const where = path.resolve(file);
  const fix = opts.fix ?? 'replace it with an intact copy (for example re-save it with numpy.savez)';
  const fail: FailFn = (what, ownFix) => new DataError(`${where} ${what}; ${ownFix ?? fix}`);

  regularFileSize(where, fail, '.npz file');

  // The fd is ours until yauzl has a ZipFile on it; then closing the ZipFile closes it, once every stream on it is done.
  let fd: number;
  try {
    fd = fs.openSync(where, 'r');
  } catch (err) {
    throw fail(`cannot be read (${(err as Error).message})`);
  }
  let zip: yauzl.ZipFile;
  try {
    zip = await zipFromFd(fd, fail);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let closing = false;
  const closed = new Promise<void>((resolve) => {
    zip.once('close', () => resolve());
    // An error closing the fd: nothing more will happen. Before closing, errors belong to whoever is reading.
    zip.on('error', () => {
      if (closing) resolve();
    });
  });
  try {
    if (zip.entryCount > maxEntries) {
      throw fail(`is not a plausible .npz: its zip directory declares ${zip.entryCount} entries, over the limit of ${maxEntries}`);
    }
    const entries = await listEntries(zip, fail);
    const byKey = new Map<string, yauzl.Entry>();
    for (const e of entries) {
      if (e.fileName.endsWith('/') || !e.fileName.endsWith('.npy')) continue; // folders and non-array files
      const key = e.fileName.slice(0, -'.npy'.length);
      if (byKey.has(key)) throw fail(`holds two entries named '${e.fileName}'; an .npz has one entry per array`);
      byKey.set(key, e);
    }
    const keys = [...byKey.keys()];
    const wanted = opts.keys === undefined ? keys : typeof opts.keys === 'function' ? opts.keys(keys) : opts.keys;
    const selected = wanted.map((key) => {
      const e = byKey.get(key);
      if (e === undefined) {
        throw fail(`has no array '${key}' (no entry '${key}.npy'); it holds ${keys.length ? keys.map((k) => `'${k}'`).join(', ') : 'no arrays'}`);
      }
      return { key, entry: e };
    });

    // Declared sizes first: nothing is inflated unless every selected entry fits.
    let total = 0;
    for (const { entry } of selected) {
      const declared = entry.uncompressedSize;
      if (declared > maxEntryBytes) {
        throw fail(
          `is too large or corrupt: entry '${entry.fileName}' declares ${declared} bytes uncompressed, over the ${maxEntryBytes}-byte limit per array`,
        );
      }
      total += declared;
      if (total > maxTotalBytes) {
        throw fail(`is too large or corrupt: the arrays read declare ${total} bytes uncompressed, over the ${maxTotalBytes}-byte limit`);
      }
    }

    const arrays = new Map<string, NdArray>();
    for (const { key, entry } of selected) {
      const entryFail: FailFn = (what, ownFix) => fail(`entry '${entry.fileName}' ${what}`, ownFix);
      const bytes = await readEntryBytes(zip, entry, entryFail);
      arrays.set(key, decodeNpy(bytes, { maxElements: opts.maxElements, fail: entryFail }));
    }
    return { keys, arrays };
  } finally {
    closing = true;
    zip.close();
    await closed;
  }
}

const ZIP_OPTIONS: yauzl.Options = {
  lazyEntries: true,
  autoClose: false, // closed in readNpz's finally, after the last stream
  decodeStrings: true,
  validateEntrySizes: true,
  // Backslashes in names are refused rather than rewritten to '/'.
  strictFileNames: true,
};

function zipFromFd(fd: number, fail: FailFn): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzlModule().fromFd(fd, ZIP_OPTIONS, (err, zip) => {
      if (err) reject(zipError(err, fail));
      else resolve(zip);
    });
  });
}

/** Reads the whole central directory (entry metadata only). */
function listEntries(zip: yauzl.ZipFile, fail: FailFn): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    const onEntry = (e: yauzl.Entry): void => {
      entries.push(e);
      zip.readEntry();
    };
    const onEnd = (): void => {
      done();
      resolve(entries);
    };
    const onError = (err: Error): void => {
      done();
      reject(zipError(err, fail));
    };
    const done = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

/**
 * Inflates one entry into a buffer of its declared size, counting the bytes:
 * more than declared (a bomb or a lie) stops the stream at once.
 */
function readEntryBytes(zip: yauzl.ZipFile, entry: yauzl.Entry, fail: FailFn): Promise<Buffer> {
  const declared = entry.uncompressedSize;
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream: Readable) => {
      if (err) {
        reject(zipError(err, fail));
        return;
      }
      const out = Buffer.allocUnsafe(declared);
      let got = 0;
      let settled = false;
      const stop = (e: DataError): void => {
        if (settled) return;
        settled = true;
        stream.destroy(); // yauzl's destroy also releases the fd's reference
        reject(e);
      };
      stream.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (got + chunk.length > declared) {
          stop(fail(`inflates to more than the ${declared} bytes its header declares (a corrupt entry or a zip bomb)`));
          return;
        }
        chunk.copy(out, got);
        got += chunk.length;
      });
      stream.on('error', (e: Error) => stop(zipError(e, fail)));
      stream.on('end', () => {
        if (settled) return;
        settled = true;
        if (got !== declared) reject(fail(`inflates to ${got} bytes but its header declares ${declared}`));
        else if (crc32(out) !== entry.crc32) reject(fail('is corrupt: its data fails the CRC-32 check'));
        else resolve(out);
      });
    });
  });
}

/** A yauzl or zlib error as a DataError about the archive. */
function zipError(err: Error, fail: FailFn): DataError {
  if (err instanceof DataError) return err;
  const msg = err.message.replace(/\.$/, '');
  if (/^(invalid characters in fileName|absolute path|invalid relative path)/.test(msg)) {
    return fail(`holds an entry with an unsafe name (${msg}); lip never writes entries to disk, but refuses archives built to do so`);
  }
  if (/^unsupported compression method/.test(msg)) {
    return fail(`holds an entry with an ${msg}; NumPy writes stored or deflated entries only (numpy.savez, numpy.savez_compressed)`);
  }
  if (/encrypt/i.test(msg)) return fail(`holds an encrypted entry (${msg}); lip reads unencrypted .npz files only`);
  if (/^too many bytes in the stream/.test(msg)) return fail(`holds an entry that inflates to more than it declares (${msg}): a corrupt entry or a zip bomb`);
  return fail(`is not a valid .npz (zip) archive: ${msg}`);
}

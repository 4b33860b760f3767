/**
 * Extracting chosen regular files from a `.tar.gz` (POSIX ustar or GNU tar),
 * streamed: the archive is never held in memory, only one chosen entry at a
 * time. Each file is written atomically (`writeFileAtomic`), so a killed
 * extraction leaves whole files or none.
 *
 * Layout: 512-byte headers, each followed by the entry's data rounded up to
 * 512 bytes; the name is `prefix/name` (bytes 345..500 and 0..100), the size
 * an octal number at bytes 124..136, the type a byte at 156 ('0' or NUL for
 * a regular file); two zero blocks end the archive.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { DataError } from '../errors';
import { writeFileAtomic } from '../io/atomic';

const BLOCK = 512;

/** Largest entry kept (a CIFAR-10 batch is 30 MB). */
export const DEFAULT_MAX_TAR_ENTRY_BYTES = 256 * 2 ** 20;

function field(header: Buffer, start: number, length: number): string {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? length : end).toString('utf8');
}

/** Size of an entry: octal text, or GNU base-256 (high bit of the first byte set). */
function entrySize(header: Buffer, fail: (why: string) => DataError): number {
  if (header[124]! & 0x80) {
    let size = 0;
    for (let i = 125; i < 136; i++) size = size * 256 + header[i]!;
    return size;
  }
  const text = field(header, 124, 12).trim();
  if (!/^[0-7]*$/.test(text)) throw fail(`has a header with a bad size field '${text}'`);
  return text === '' ? 0 : parseInt(text, 8);
}

/**
 * Streams `archive` (gzip-compressed tar) and writes each regular file whose
 * path `destinationOf(path)` maps to a destination. Returns the destinations
 * written. A truncated or corrupt archive is one `DataError` naming it and
 * `fix`.
 */
export async function extractTarGz(
  archive: string,
  destinationOf: (entryPath: string) => string | undefined,
  opts: { fix?: string; maxEntryBytes?: number } = {},
): Promise<string[]> {
  const fail = (why: string): DataError => new DataError(`${archive} ${why}${opts.fix ? `; ${opts.fix}` : ''}`);
  const maxEntryBytes = opts.maxEntryBytes ?? DEFAULT_MAX_TAR_ENTRY_BYTES;
  const written: string[] = [];
  let pending: Buffer = Buffer.alloc(0);
  const state: {
    /** The entry being read: its remaining data bytes, its padding, and where it goes. */
    entry: { remaining: number; padding: number; dest: string | undefined; chunks: Buffer[] } | null;
    /** The end blocks were read. */
    ended: boolean;
    /** The path a GNU long-name entry gave ('' while reading it), or null. */
    longName: string | null;
  } = { entry: null, ended: false, longName: null };

  const finishEntry = (): void => {
    const entry = state.entry;
    if (entry?.dest !== undefined) {
      fs.mkdirSync(path.dirname(entry.dest), { recursive: true });
      writeFileAtomic(entry.dest, Buffer.concat(entry.chunks));
      written.push(entry.dest);
    }
    state.entry = null;
  };

  const consume = (): void => {
    for (;;) {
      if (state.ended) return;
      const entry = state.entry;
      if (entry !== null) {
        if (entry.remaining > 0) {
          if (pending.length === 0) return;
          const take = Math.min(entry.remaining, pending.length);
          if (entry.dest !== undefined || state.longName === '') entry.chunks.push(pending.subarray(0, take));
          entry.remaining -= take;
          pending = pending.subarray(take);
          if (entry.remaining > 0) return;
        }
        if (pending.length < entry.padding) return;
        pending = pending.subarray(entry.padding);
        if (state.longName === '') {
          // The data of a GNU long-name entry is the next entry's path.
          state.longName = Buffer.concat(entry.chunks).toString('utf8').replace(/\0+$/, '');
          state.entry = null;
          continue;
        }
        finishEntry();
        continue;
      }
      if (pending.length < BLOCK) return;
      const header = pending.subarray(0, BLOCK);
      pending = pending.subarray(BLOCK);
      if (header.every((b) => b === 0)) {
        state.ended = true;
        return;
      }
      const size = entrySize(header, fail);
      const type = String.fromCharCode(header[156]!);
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (type === 'L') {
        // GNU long name: its data is the name of the entry that follows.
        state.longName = '';
        state.entry = { remaining: size, padding, dest: undefined, chunks: [] };
        continue;
      }
      const prefix = field(header, 345, 155);
      const name = state.longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
      state.longName = null;
      const regular = type === '0' || type === '\0';
      const dest = regular ? destinationOf(name) : undefined;
      if (dest !== undefined && size > maxEntryBytes) throw fail(`holds ${name} of ${size} bytes, over the ${maxEntryBytes}-byte limit`);
      state.entry = { remaining: size, padding, dest, chunks: [] };
    }
  };

  try {
    const stream = fs.createReadStream(archive).pipe(zlib.createGunzip());
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      consume();
      if (state.ended) {
        stream.destroy();
        break;
      }
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw fail(`cannot be extracted: ${(err as Error).message}`);
  }
  if (state.entry !== null || !state.ended) throw fail('is truncated: the tar stream ends inside an entry or without its end blocks');
  return written;
}

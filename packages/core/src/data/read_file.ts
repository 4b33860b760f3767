/** Reading a whole data file with its size checked first. */
import * as fs from 'fs';
import { FailFn } from './ndarray';

/**
 * The size of `file` (an absolute path) after checking that it exists and is a
 * non-empty regular file (not a folder, FIFO or device, which could block or
 * never end). `what` names the kind of file in the message for a folder;
 * without it a folder "is not a regular file" like any other non-file.
 */
export function regularFileSize(file: string, fail: FailFn, what?: string): number {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw fail(e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.message})`);
  }
  if (!stat.isFile()) throw fail(stat.isDirectory() && what !== undefined ? `is a folder, not a ${what}` : 'is not a regular file');
  if (stat.size === 0) throw fail('is empty (0 bytes)');
  return stat.size;
}

/**
 * Reads `file` (an absolute path) after checking that it is a regular file
 * (see `regularFileSize`) of 1 to `maxFileBytes` bytes. `what` names the kind
 * of file in messages.
 */
export function readBoundedFile(file: string, maxFileBytes: number, fail: FailFn, what: string): Uint8Array {
  const size = regularFileSize(file, fail, what);
  if (size > maxFileBytes) throw fail(`is ${size} bytes, over the ${maxFileBytes}-byte limit for a ${what}`);
  // Reads the size stat saw, so a file growing meanwhile cannot push past the limit.
  const out = Buffer.allocUnsafe(size);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    let got = 0;
    while (got < out.length) {
      const n = fs.readSync(fd, out, got, out.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === out.length ? out : out.subarray(0, got);
  } catch (err) {
    throw fail(`cannot be read (${(err as Error).message})`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

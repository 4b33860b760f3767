/** Reading a whole data file with its size checked first. */
import * as fs from 'fs';
import { DataError } from '../errors';
import { FailFn } from './ndarray';

/**
 * Reads `file` (an absolute path) after checking that it is a regular file
 * (not a folder, FIFO or device, which could block or never end) of 1 to
 * `maxFileBytes` bytes. `what` names the kind of file in messages.
 */
export function readBoundedFile(file: string, maxFileBytes: number, fail: FailFn, what: string): Uint8Array {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw fail(e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.message})`);
  }
  if (!stat.isFile()) throw fail(stat.isDirectory() ? `is a folder, not a ${what}` : 'is not a regular file');
  if (stat.size === 0) throw fail('is empty (0 bytes)');
  if (stat.size > maxFileBytes) throw fail(`is ${stat.size} bytes, over the ${maxFileBytes}-byte limit for a ${what}`);
  // Reads the size stat saw, so a file growing meanwhile cannot push past the limit.
  const out = Buffer.allocUnsafe(stat.size);
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

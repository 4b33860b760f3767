/**
 * Checksummed downloads over node:http/https. The body streams to a temp file
 * beside the destination, which is renamed into place only after its md5
 * matches: the destination is the verified file or absent, never half-written.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import type * as http from 'http';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import { fsyncDir } from '../atomic';
import { DEFAULT_MAX_IDX_BYTES } from '../data/idx';
import { DataError, assertArg } from '../errors';

/** Milliseconds without any data after which a download is abandoned. */
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 5;

export interface DownloadProgress {
  url: string;
  /** Destination path. */
  file: string;
  receivedBytes: number;
  /** From Content-Length; undefined when the server does not say. */
  totalBytes: number | undefined;
}

export interface DownloadOptions {
  /** Expected md5 of the body, hex. */
  md5: string;
  /** Abandon after this long without data, ms. Default DEFAULT_DOWNLOAD_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Largest body accepted, bytes. Default DEFAULT_MAX_IDX_BYTES. */
  maxBytes?: number;
  /** Appended to every error: how the user gets the data another way. */
  fix?: string;
  /** Called after each chunk. */
  onProgress?: (progress: DownloadProgress) => void;
}

/**
 * Downloads `url` to `dest` and checks its md5. Throws one `DataError`
 * naming the URL, the cause and `opts.fix`; leaves nothing at `dest` then.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IDX_BYTES;
  assertArg(/^[0-9a-f]{32}$/i.test(opts.md5), () => `'md5' must be 32 hex digits, got '${opts.md5}'`);
  assertArg(Number.isFinite(timeoutMs) && timeoutMs > 0, () => `'timeoutMs' must be positive, got ${timeoutMs}`);
  const fail = (why: string): DataError => new DataError(`could not download ${url}: ${why}${opts.fix ? `; ${opts.fix}` : ''}`);

  const dir = path.dirname(dest);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw fail(`cannot create ${dir} (${(err as Error).message})`);
  }
  removeStaleParts(dir, path.basename(dest));
  const tmp = path.join(dir, `.${path.basename(dest)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.part`);

  let out: fs.WriteStream | undefined;
  try {
    const res = await get(url, timeoutMs, MAX_REDIRECTS);
    const length = res.headers['content-length'];
    const totalBytes = length !== undefined ? Number(length) : undefined;
    if (totalBytes !== undefined && totalBytes > maxBytes) {
      res.destroy();
      throw new Error(`the server announces ${totalBytes} bytes, over the ${maxBytes}-byte limit`);
    }
    // Opened synchronously so the temp file exists before any error path removes it.
    out = fs.createWriteStream(tmp, { fd: fs.openSync(tmp, 'wx') });
    const hash = crypto.createHash('md5');
    let receivedBytes = 0;
    await pipeline(
      res,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          receivedBytes += chunk.length;
          if (receivedBytes > maxBytes) throw new Error(`the body exceeds the ${maxBytes}-byte limit`);
          hash.update(chunk);
          opts.onProgress?.({ url, file: dest, receivedBytes, totalBytes });
          yield chunk;
        }
      },
      out,
    );
    await closed(out);
    if (totalBytes !== undefined && receivedBytes !== totalBytes) {
      throw new Error(`the connection closed after ${receivedBytes} of ${totalBytes} bytes`);
    }
    const md5 = hash.digest('hex');
    if (md5 !== opts.md5.toLowerCase()) {
      throw new Error(`checksum mismatch: md5 of the ${receivedBytes} bytes received is ${md5}, expected ${opts.md5.toLowerCase()}`);
    }
    const fd = fs.openSync(tmp, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, dest);
    fsyncDir(dir);
  } catch (err) {
    if (out !== undefined) await closed(out); // no write may land after the removal
    fs.rmSync(tmp, { force: true });
    if (err instanceof DataError) throw err;
    throw fail(describeNetworkError(err));
  }
}

/** Resolves once `stream` has released its file descriptor. */
function closed(stream: fs.WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    stream.destroy();
  });
}

/** GETs `url`, following redirects; resolves with a 200 response. */
function get(url: string, timeoutMs: number, redirectsLeft: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new Error('not a valid URL'));
      return;
    }
    // Loaded here, not at the top: node:https pulls in tls and net (about 14 ms), which a run that downloads nothing skips.
    const client: typeof http | undefined =
      parsed.protocol === 'https:' ? (require('https') as typeof http) : parsed.protocol === 'http:' ? (require('http') as typeof http) : undefined;
    if (client === undefined) {
      reject(new Error(`unsupported protocol ${parsed.protocol} (use http: or https:)`));
      return;
    }
    // agent: false: a fresh connection, so no pooled socket outlives the download.
    let response: http.IncomingMessage | undefined;
    const req = client.get(parsed, { agent: false }, (res) => {
      response = res;
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location !== undefined) {
        res.resume();
        if (redirectsLeft === 0) {
          reject(new Error(`more than ${MAX_REDIRECTS} redirects`));
          return;
        }
        get(new URL(res.headers.location, parsed).toString(), timeoutMs, redirectsLeft - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`the server answered HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`));
        return;
      }
      resolve(res);
    });
    // Idle timeout on the socket: covers connecting, waiting for headers and a stalled body.
    req.setTimeout(timeoutMs, () => {
      const err = new TimeoutError(`no data for ${timeoutMs / 1000} s (timed out)`);
      response?.destroy(err); // so the body's reader sees the timeout, not a bare 'aborted'
      req.destroy(err);
    });
    req.on('error', reject);
  });
}

class TimeoutError extends Error {}

function describeNetworkError(err: unknown): string {
  if (err instanceof TimeoutError) return err.message;
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ECONNREFUSED':
      return `connection refused (${e.message})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the host (${e.message}); is there a network connection?`;
    case 'ECONNRESET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return `the connection closed before the download finished (${e.message})`;
    case 'ENOSPC':
      return `the disk is full (${e.message})`;
    default:
      return e && e.message ? e.message : String(err);
  }
}

/** Removes temp files of earlier downloads of `base` whose process has died (a killed run leaves one). */
function removeStaleParts(dir: string, base: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const prefix = `.${base}.`;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.part')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

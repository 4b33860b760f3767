/**
 * The browser twin of wasm_threads.ts: package.json's `browser` field puts
 * this file in its place when @lip/train is bundled for a browser. Forcing
 * tfjs-backend-wasm's threaded binary is a Node-only workaround (temporary
 * files, `os.cpus()`); in a browser, tfjs-backend-wasm chooses its threaded
 * binary by itself when the page is cross-origin isolated.
 */
import { LipError } from '../errors';

/** Emscripten pre-creates 8 pthread workers; XNNPACK's pool is capped at 8. */
export const WASM_MAX_THREADS = 8;

export async function initThreadedWasm(threads: number): Promise<void> {
  throw new LipError(
    `'threads' ${threads}: lip starts the threaded wasm backend only under Node; in a browser, tfjs-backend-wasm ` +
      'uses threads by itself when the page is cross-origin isolated (leave threads at 1)',
  );
}

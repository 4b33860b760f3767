/**
 * Multi-threaded tfjs-backend-wasm under Node.
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD binary, but never uses it in
 * Node: the flag WASM_HAS_MULTITHREAD_SUPPORT is hard-wired to false there
 * (tensorflow/tfjs#3830). Forcing the flag is not enough:
 * 1. the pthread worker script and the main script are handed to Emscripten
 *    as Blob URLs, which Node's `worker_threads` cannot load
 *    (ERR_WORKER_PATH);
 * 2. the main script is the factory's `toString()`, which refers to names
 *    the bundler gave to its imports (`require$$0` for fs, ...), undefined
 *    inside a worker;
 * 3. the thread pool is capped at `os.cpus().length / 2` (the C++ side
 *    assumes two hyper-threads per core), which is 1 on a 2-core machine.
 * So, only while the backend starts: Blob URLs become temporary files (with
 * the bundler's names defined in front of the main script), and `os.cpus()`
 * reports enough CPUs for the requested pool. Everything is restored and the
 * temporary files are removed once the backend is up. Emscripten starts its
 * 8 pthread workers whatever the thread count (about 0.35 s at startup).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { LipError } from '../errors';
import { removeDeadProcessTemps } from '../io/atomic';

/** Emscripten pre-creates 8 pthread workers; XNNPACK's pool is capped at 8. */
export const WASM_MAX_THREADS = 8;

/** The WebAssembly global (not in the ES2022 lib typings). */
interface WasmMemoryApi {
  Memory: new (desc: { initial: number; maximum: number; shared: boolean }) => { buffer: ArrayBufferLike };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmMemoryApi }).WebAssembly;

const MAIN_SCRIPT_PREFIX = 'var WasmBackendModuleThreadedSimd';

// The real module objects (not import-star copies): the wasm bundle calls
// `os.cpus()` on this very object.
const nodeOs: typeof import('os') = require('os');
const nodeFs: typeof import('fs') = require('fs');
const nodePath: typeof import('path') = require('path');

/**
 * `var require$$0 = require('fs'); ...` as declared at the top of the wasm
 * bundle, plus rollup's `commonjsGlobal`: what the factory's source needs.
 */
function bundlePreamble(): string {
  const bundle = nodeFs.readFileSync(require.resolve('@tensorflow/tfjs-backend-wasm'), 'utf8');
  const lines = [...bundle.matchAll(/^var (require\$\$\d+) = require\('([^']+)'\);$/gm)].map(
    (m) => `var ${m[1]} = require(${JSON.stringify(m[2])});`,
  );
  lines.push('var commonjsGlobal = globalThis;');
  return lines.join('\n') + '\n';
}

/**
 * Starts the wasm backend with `threads` XNNPACK threads. Must run before
 * the wasm backend first starts.
 */
export async function initThreadedWasm(threads: number): Promise<void> {
  // A process killed while the backend starts leaves its folder: remove those of dead processes.
  removeDeadProcessTemps(nodeOs.tmpdir(), (name) => {
    const m = /^lip-wasm-(\d+)-/.exec(name);
    return m === null ? null : Number(m[1]);
  }, { recursive: true });
  const dir = nodeFs.mkdtempSync(nodePath.join(nodeOs.tmpdir(), `lip-wasm-${process.pid}-`));
  const mainPath = nodePath.join(dir, 'main.js');
  const workerPath = nodePath.join(dir, 'worker.js');
  const preamble = bundlePreamble();

  const OriginalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  const originalCpus = nodeOs.cpus;
  const texts = new WeakMap<object, string>();

  class RecordingBlob extends OriginalBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts: unknown = args[0];
      if (Array.isArray(parts) && parts.every((p) => typeof p === 'string')) {
        const text = parts.join('');
        texts.set(this, text);
        // Posted to the workers as a Blob; they load it through the shim below.
        if (text.startsWith(MAIN_SCRIPT_PREFIX)) nodeFs.writeFileSync(mainPath, preamble + text);
      }
    }
  }
  const createObjectURL = (blob: Blob): string => {
    const text = texts.get(blob);
    if (text == null) return originalCreateObjectURL(blob);
    // The worker script: make its own createObjectURL(mainScriptBlob) name the file.
    nodeFs.writeFileSync(
      workerPath,
      `${text}\n;URL.createObjectURL = () => ${JSON.stringify(mainPath)}; URL.revokeObjectURL = () => {};\n`,
    );
    return workerPath;
  };
  const cpus = (): ReturnType<typeof nodeOs.cpus> => {
    const real = originalCpus();
    return Array.from({ length: Math.max(real.length, 2 * threads) }, (_, i) => real[i % real.length]);
  };

  // Emscripten checks `memory.buffer instanceof SharedArrayBuffer`; in a vm
  // context whose SharedArrayBuffer global comes from another realm (a Jest
  // environment sharing typed arrays with the outer realm), that fails.
  const OriginalSharedArrayBuffer = globalThis.SharedArrayBuffer;
  const wasmSharedArrayBuffer = new wasmApi.Memory({ initial: 1, maximum: 1, shared: true }).buffer
    .constructor as SharedArrayBufferConstructor;

  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  tfwasm.setThreadsCount(threads);
  globalThis.Blob = RecordingBlob as typeof Blob;
  URL.createObjectURL = createObjectURL;
  nodeOs.cpus = cpus;
  globalThis.SharedArrayBuffer = wasmSharedArrayBuffer;
  let started = false;
  try {
    started = await tf.setBackend('wasm');
  } finally {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreateObjectURL;
    nodeOs.cpus = originalCpus;
    globalThis.SharedArrayBuffer = OriginalSharedArrayBuffer;
    nodeFs.rmSync(dir, { recursive: true, force: true });
    if (!started) {
      // Let a later plain setBackend('wasm') use the single-threaded binary.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      tfwasm.setThreadsCount(-1);
    }
  }
  if (!started) {
    throw new LipError(`the threaded wasm backend (${threads} threads) failed to start; try 'threads: 1'`, 1);
  }
  // XNNPACK's pool threads run until the process ends; Emscripten keeps
  // their workers referenced, which would stop Node from ever exiting.
  const module = (tf.backend() as unknown as { wasm: { PThread?: { runningWorkers?: Array<{ unref?: () => void }> } } })
    .wasm;
  module.PThread?.runningWorkers?.forEach((worker) => worker.unref?.());
  const actual = tfwasm.getThreadsCount();
  if (actual !== threads) {
    throw new LipError(`the wasm backend started with ${actual} thread(s) instead of ${threads}`, 1);
  }
}

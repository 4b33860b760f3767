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
 *
 * Each script file is written once, whole, before its path is handed out,
 * and never rewritten: Emscripten asks for the worker script's URL once per
 * worker, and rewriting the file (truncate, then write) for worker k let
 * worker 1, already starting on another thread, read it empty now and then;
 * an empty script exits at once without a word, Emscripten waits for its
 * "loaded" forever, and `setBackend` never settled (issue 17: seen under
 * strace in Jest and in about 1 start in 7 in plain Node).
 *
 * Emscripten waits for all 8 workers to load before the backend resolves,
 * and has no timeout of its own. A watchdog does: a pthread worker that exits
 * or fails before it loads fails the start at once, and a start that makes no
 * progress for `workerSilenceBound(0, 1)` (2 min, `$LIP_WORKER_TIMEOUT_MS`)
 * fails with WorkerStuckError naming the workers that never loaded. Either
 * way the pthread workers are terminated, tfjs forgets the start (another
 * backend, or wasm with 1 thread, can start), and a LipError (exit code 1)
 * is thrown.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import type { Worker as NodeWorker } from 'worker_threads';
import { SilenceTimer, WorkerStuckError, silenceBoundHint, terminateWithin, workerSilenceBound } from '@lip/core';
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
// The bundle makes its pthread workers with this module's `Worker`, read when it starts.
const nodeWorkerThreads: typeof import('worker_threads') = require('worker_threads');

/**
 * `var require$$0 = require('fs'); ...` as declared at the top of the wasm
 * bundle, plus rollup's `commonjsGlobal`: what the factory's source needs.
 */
function bundlePreamble(): string {
  const bundle = nodeFs.readFileSync(require.resolve('@tensorflow/tfjs-backend-wasm'), 'utf8');
  const lines = [...bundle.matchAll(/^var (require\$\$\d+) = require\('([^']+)'\);$/gm)].map((m) => `var ${m[1]} = require(${JSON.stringify(m[2])});`);
  lines.push('var commonjsGlobal = globalThis;');
  return lines.join('\n') + '\n';
}

/** A pthread worker as Emscripten marks it (`loaded` once its "loaded" message arrived). */
type PthreadWorker = NodeWorker & { loaded?: boolean };

/**
 * Watches the pthread workers Emscripten makes while the backend starts:
 * `failed` rejects when one exits or fails before it loads, or when `boundMs`
 * pass without a worker loading (see the module comment).
 */
class PthreadStartupWatch {
  readonly workers: PthreadWorker[] = [];
  readonly failed: Promise<never>;
  private fail!: (err: LipError) => void;
  private readonly timer: SilenceTimer;
  private readonly detach: Array<() => void> = [];

  constructor(
    private readonly what: string,
    boundMs: number,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.failed.catch(() => undefined); // raced against the start; never unhandled
    this.timer = new SilenceTimer((ms) => this.fail(this.silenceError(ms)));
    this.timer.start(boundMs);
  }

  /** Called for each pthread worker as it is made (number k of 8, from 1). */
  add(worker: PthreadWorker): void {
    this.workers.push(worker);
    const name = `pthread worker ${this.workers.length} of ${WASM_MAX_THREADS}`;
    const onMessage = (data: unknown): void => {
      if ((data as { cmd?: unknown } | null)?.cmd === 'loaded') this.timer.heard();
    };
    const onExit = (code: number): void => {
      if (!worker.loaded) this.fail(new LipError(`${this.what} did not start: ${name} exited (code ${code}) before it loaded; try 'threads: 1'`, 1));
    };
    const onError = (err: Error): void => {
      if (!worker.loaded) this.fail(new LipError(`${this.what} did not start: ${name} failed before it loaded: ${err.message}; try 'threads: 1'`, 1));
    };
    worker.on('message', onMessage);
    worker.on('exit', onExit);
    worker.on('error', onError);
    this.detach.push(() => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      worker.off('error', onError);
    });
  }

  private silenceError(boundMs: number): WorkerStuckError {
    const missing = this.workers.flatMap((w, i) => (w.loaded ? [] : [i + 1]));
    const cause =
      this.workers.length === 0
        ? 'no pthread worker was made'
        : missing.length > 0
          ? `pthread worker${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${this.workers.length} never loaded`
          : `its ${this.workers.length} pthread workers loaded but the backend did not finish starting`;
    return new WorkerStuckError(`${this.what} did not start: ${cause} within ${silenceBoundHint(boundMs)}, or use 'threads: 1'`);
  }

  /** Stops watching (the workers keep running). */
  stop(): void {
    this.timer.stop();
    this.detach.forEach((detach) => detach());
  }

  /** Stops every pthread worker (after a failed start: nothing else would, and they keep the process alive). */
  async terminateAll(): Promise<void> {
    await Promise.all(this.workers.map((w) => terminateWithin(w)));
  }
}

/**
 * tfjs waits for a pending backend start before it runs anything, even on
 * another backend: forget the abandoned one, keeping the factory so that a
 * later (single-threaded) start can still be made.
 */
function abandonPendingStart(): void {
  const entry = tf.engine().registryFactory['wasm'];
  tf.removeBackend('wasm');
  if (entry !== undefined) tf.registerBackend('wasm', entry.factory, entry.priority);
}

/**
 * Starts the wasm backend with `threads` XNNPACK threads. Must run before
 * the wasm backend first starts.
 *
 * @throws LipError (exit code 1) when it does not start: a pthread worker
 *   exited or failed before loading, or the start made no progress within
 *   `workerSilenceBound(0, 1)` (WorkerStuckError).
 */
export async function initThreadedWasm(threads: number): Promise<void> {
  // A process killed while the backend starts leaves its folder: remove those of dead processes.
  removeDeadProcessTemps(
    nodeOs.tmpdir(),
    (name) => {
      const m = /^lip-wasm-(\d+)-/.exec(name);
      return m === null ? null : Number(m[1]);
    },
    { recursive: true },
  );
  const what = `the threaded wasm backend (${threads} threads)`;
  const watch = new PthreadStartupWatch(what, workerSilenceBound(0, 1));
  const dir = nodeFs.mkdtempSync(nodePath.join(nodeOs.tmpdir(), `lip-wasm-${process.pid}-`));
  const mainPath = nodePath.join(dir, 'main.js');
  const preamble = bundlePreamble();

  const OriginalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  const originalCpus = nodeOs.cpus;
  const OriginalWorker = nodeWorkerThreads.Worker;
  const texts = new WeakMap<object, string>();

  // One file per distinct script, written whole before anyone has its path, never rewritten.
  const scriptFiles = new Map<string, string>();
  const scriptFile = (text: string): string => {
    let file = scriptFiles.get(text);
    if (file === undefined) {
      file = nodePath.join(dir, `worker-${scriptFiles.size}.js`);
      nodeFs.writeFileSync(file, text);
      scriptFiles.set(text, file);
    }
    return file;
  };

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
    return scriptFile(`${text}\n;URL.createObjectURL = () => ${JSON.stringify(mainPath)}; URL.revokeObjectURL = () => {};\n`);
  };
  const cpus = (): ReturnType<typeof nodeOs.cpus> => {
    const real = originalCpus();
    return Array.from({ length: Math.max(real.length, 2 * threads) }, (_, i) => real[i % real.length]);
  };
  class RecordingWorker extends OriginalWorker {
    constructor(...args: ConstructorParameters<typeof OriginalWorker>) {
      super(...args);
      watch.add(this);
    }
  }

  // Emscripten checks `memory.buffer instanceof SharedArrayBuffer`; in a vm
  // context whose SharedArrayBuffer global comes from another realm (a Jest
  // environment sharing typed arrays with the outer realm), that fails.
  const OriginalSharedArrayBuffer = globalThis.SharedArrayBuffer;
  const wasmSharedArrayBuffer = new wasmApi.Memory({ initial: 1, maximum: 1, shared: true }).buffer.constructor as SharedArrayBufferConstructor;

  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  tfwasm.setThreadsCount(threads);
  globalThis.Blob = RecordingBlob as typeof Blob;
  URL.createObjectURL = createObjectURL;
  nodeOs.cpus = cpus;
  nodeWorkerThreads.Worker = RecordingWorker;
  globalThis.SharedArrayBuffer = wasmSharedArrayBuffer;
  const globals = globalThis as unknown as { Worker?: unknown };
  let started = false;
  try {
    started = await Promise.race([tf.setBackend('wasm'), watch.failed]);
  } catch (err) {
    await watch.terminateAll();
    abandonPendingStart();
    throw err;
  } finally {
    watch.stop();
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreateObjectURL;
    nodeOs.cpus = originalCpus;
    nodeWorkerThreads.Worker = OriginalWorker;
    // The bundle set the global to what it found (RecordingWorker): leave the real class.
    if (globals.Worker === RecordingWorker) globals.Worker = OriginalWorker;
    globalThis.SharedArrayBuffer = OriginalSharedArrayBuffer;
    nodeFs.rmSync(dir, { recursive: true, force: true });
    if (!started) {
      // Let a later plain setBackend('wasm') use the single-threaded binary.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      tfwasm.setThreadsCount(-1);
    }
  }
  if (!started) {
    throw new LipError(`${what} failed to start; try 'threads: 1'`, 1);
  }
  // XNNPACK's pool threads run until the process ends; Emscripten keeps
  // their workers referenced, which would stop Node from ever exiting.
  const module = (tf.backend() as unknown as { wasm: { PThread?: { runningWorkers?: Array<{ unref?: () => void }> } } }).wasm;
  module.PThread?.runningWorkers?.forEach((worker) => worker.unref?.());
  const actual = tfwasm.getThreadsCount();
  if (actual !== threads) {
    throw new LipError(`the wasm backend started with ${actual} thread(s) instead of ${threads}`, 1);
  }
}

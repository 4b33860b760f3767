/**
 * Choosing the tfjs backend: TensorFlow (tfjs-node-gpu, tfjs-node) when
 * installed, else WebAssembly (XNNPACK), else plain JavaScript.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { assertArg, InvalidArgumentError, LipError } from '../errors';
import { installWasmKernels } from './install_wasm_kernels';
import { initThreadedWasm, WASM_MAX_THREADS } from './wasm_threads';

/** What `selectBackend` accepts. */
export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface SelectBackendOptions {
  /**
   * Threads of the wasm backend's XNNPACK pool, 1 to WASM_MAX_THREADS
   * (default 1; other backends ignore it). More than 1 uses
   * tfjs-backend-wasm's threaded binary, which tfjs does not enable under
   * Node by itself (see wasm_threads.ts). It speeds up convolutions and
   * matMuls only when cores are idle (conv2 forward 55 -> 28 ms with 2
   * threads on 2 free cores, no gain on a busy machine), so keep 1 when
   * training in several worker_threads. Fixed once wasm has started.
   */
  threads?: number;
}

export interface SelectedBackend {
  /** tfjs backend name: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** For printing, e.g. "wasm (XNNPACK, SIMD, 1 thread)". */
  description: string;
}

/** The TensorFlow bindings, fastest first. */
const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** Which binding registered the 'tensorflow' backend (for the description). */
let tensorflowPackage: string | null = null;

/**
 * `require` hidden from TypeScript and bundlers: the tfjs-node packages are
 * optional peer dependencies and usually absent.
 */
const dynamicRequire: (id: string) => unknown = (id) => require(id);

function isNotFound(err: unknown, id: string): boolean {
  const e = err as { code?: string; message?: string } | null;
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(`'${id}'`);
}

/**
 * Loads a TensorFlow binding (which registers the 'tensorflow' backend).
 * Returns the package name, or the reasons none could be loaded.
 */
function loadTensorflow(): { loaded: string } | { reasons: string[] } {
  const reasons: string[] = [];
  for (const id of TENSORFLOW_PACKAGES) {
    try {
      dynamicRequire(id);
    } catch (err) {
      reasons.push(isNotFound(err, id) ? `${id} is not installed` : `${id} failed to load: ${(err as Error).message}`);
      continue;
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      reasons.push(`${id} loaded but registered no 'tensorflow' backend with this @tensorflow/tfjs-core (versions must match)`);
      continue;
    }
    return { loaded: id };
  }
  return { reasons };
}

async function useTensorflow(): Promise<{ ok: true } | { ok: false; reasons: string[] }> {
  const found = loadTensorflow();
  if ('reasons' in found) return { ok: false, reasons: found.reasons };
  if (!(await tf.setBackend('tensorflow'))) return { ok: false, reasons: [`${found.loaded} did not start`] };
  tensorflowPackage = found.loaded;
  return { ok: true };
}

/** Threads the wasm backend runs with, or null when it has not started. */
function wasmThreads(): number | null {
  try {
    return tfwasm.getThreadsCount();
  } catch {
    return null;
  }
}

async function useWasm(threads: number): Promise<void> {
  installWasmKernels();
  const running = wasmThreads();
  if (running != null && running !== threads) {
    throw new LipError(`the wasm backend already runs with ${running} thread(s); 'threads' (${threads}) ` + 'can only be chosen before it first starts');
  }
  if (running == null && threads > 1) {
    await initThreadedWasm(threads);
  } else if (!(await tf.setBackend('wasm'))) {
    throw new LipError('the wasm backend (@tensorflow/tfjs-backend-wasm) failed to start; try the cpu backend', 1);
  }
  if (tf.getBackend() !== 'wasm') {
    throw new LipError('the wasm backend (@tensorflow/tfjs-backend-wasm) failed to start; try the cpu backend', 1);
  }
}

async function useCpu(): Promise<void> {
  if (!(await tf.setBackend('cpu'))) throw new LipError('the cpu backend failed to start', 1);
  // The cpu backend prints a "use tfjs-node" banner on first use; the choice
  // was deliberate and describeBackend() already says what runs.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}

function validate(preference: unknown, threads: unknown): void {
  if (!BACKEND_PREFERENCES.includes(preference as BackendPreference)) {
    throw new InvalidArgumentError(`'backend' must be one of ${BACKEND_PREFERENCES.map((p) => `'${p}'`).join(', ')}, ` + `got ${JSON.stringify(preference)}`);
  }
  assertArg(
    typeof threads === 'number' && Number.isInteger(threads) && threads >= 1 && threads <= WASM_MAX_THREADS,
    () => `'threads' must be an integer in [1, ${WASM_MAX_THREADS}], got ${JSON.stringify(threads)}`,
  );
}

/**
 * Makes `preference` the active tfjs backend and returns its name and a
 * description. 'auto' tries @tensorflow/tfjs-node-gpu, then
 * @tensorflow/tfjs-node (each only if installed), then wasm, then cpu.
 * 'wasm' also installs lip's wasm gradient kernels.
 *
 * @throws InvalidArgumentError for an unknown preference or bad `threads`;
 *   LipError when the requested backend cannot start (for 'tensorflow', the
 *   message names the package to install).
 */
export async function selectBackend(preference: BackendPreference = 'auto', opts: SelectBackendOptions = {}): Promise<SelectedBackend> {
  const threads = opts.threads ?? 1;
  validate(preference, threads);
  switch (preference) {
    case 'tensorflow': {
      const result = await useTensorflow();
      if (!result.ok) {
        throw new LipError(
          `backend 'tensorflow' is not available (${result.reasons.join('; ')}). ` +
            "Install it with 'npm install @tensorflow/tfjs-node' " +
            "('@tensorflow/tfjs-node-gpu' for CUDA), or use the 'wasm' backend",
        );
      }
      break;
    }
    case 'wasm':
      await useWasm(threads);
      break;
    case 'cpu':
      await useCpu();
      break;
    case 'auto':
      if ((await useTensorflow()).ok) break;
      try {
        await useWasm(threads);
      } catch (err) {
        if (err instanceof LipError && err.exitCode === 2) throw err; // a usage error, not "wasm is unavailable"
        await useCpu();
      }
      break;
  }
  return { name: backendName(), description: describeBackend() };
}

/** The active tfjs backend's name. */
export function backendName(): string {
  return tf.getBackend();
}

function flag(name: string): boolean | null {
  try {
    return tf.env().getBool(name);
  } catch {
    return null; // an async flag not evaluated yet
  }
}

/** The active backend for printing, e.g. "wasm (XNNPACK, SIMD, 1 thread)". */
export function describeBackend(): string {
  const name = backendName();
  switch (name) {
    case 'wasm': {
      const simd = flag('WASM_HAS_SIMD_SUPPORT');
      const threads = wasmThreads() ?? 1;
      const simdText = simd === true ? 'SIMD' : simd === false ? 'no SIMD' : 'SIMD unknown';
      return `wasm (XNNPACK, ${simdText}, ${threads} thread${threads === 1 ? '' : 's'})`;
    }
    case 'cpu':
      return 'cpu (plain JavaScript, 1 thread)';
    case 'tensorflow':
      return `tensorflow (TensorFlow C library via ${tensorflowPackage ?? '@tensorflow/tfjs-node'})`;
    default:
      return name;
  }
}

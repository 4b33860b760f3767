/**
 * The onnxruntime that runs the model: onnxruntime-node (native, Node only)
 * or onnxruntime-web (WebAssembly, WebGPU; browsers and Node). Both have the
 * same API; @lip/runtime only needs the part below, so a caller may also pass
 * the module it imported itself.
 */
import { InvalidArgumentError, LipError } from '@lip/core';

export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** The part of an onnxruntime module (`onnxruntime-node`, `onnxruntime-web`) the runtime uses. */
export interface OrtModule {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  /** onnxruntime's global settings (`env.wasm.wasmPaths`, `env.wasm.numThreads`, ...). */
  env?: Record<string, unknown>;
}

/**
 * Copies `settings` into `ort.env`, one level deep (`{ wasm: { numThreads: 1 } }`
 * sets `env.wasm.numThreads` and keeps the other `env.wasm` fields).
 */
export function applyEnv(ort: OrtModule, settings: Record<string, unknown>): void {
  const env = ort.env;
  if (!env) throw new InvalidArgumentError("'env' was given but this onnxruntime module has no env to set");
  for (const [key, value] of Object.entries(settings)) {
    const current = env[key];
    if (value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object') {
      Object.assign(current, value);
    } else {
      env[key] = value;
    }
  }
}

export type EngineName = 'node' | 'web';

/** An engine by name, or an onnxruntime module the caller imported. */
export type EngineChoice = EngineName | OrtModule;

function isOrtModule(m: unknown): m is OrtModule {
  const o = m as Partial<OrtModule> | null;
  return !!o && typeof o.Tensor === 'function' && !!o.InferenceSession && typeof o.InferenceSession.create === 'function';
}

/** `module.default` for an ES module namespace wrapping a CommonJS export. */
function unwrap(m: unknown): unknown {
  return isOrtModule(m) ? m : (m as { default?: unknown } | null)?.default;
}

/** True in Node (and Node-like runtimes), false in a browser. */
export function inNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && typeof (globalThis as { window?: unknown }).window === 'undefined';
}

/** The named onnxruntime module, or the reason it cannot be imported. */
async function importEngine(name: EngineName): Promise<OrtModule | string> {
  try {
    // Literal specifiers, so that bundlers see them (package.json `browser` drops onnxruntime-node).
    const m = unwrap(name === 'node' ? await import('onnxruntime-node') : await import('onnxruntime-web'));
    return isOrtModule(m) ? m : `onnxruntime-${name} has no InferenceSession here`;
  } catch (err) {
    return String((err as Error)?.message ?? err).split('\n')[0];
  }
}

/**
 * The engine to run on. Default: onnxruntime-node in Node when it is
 * installed, else onnxruntime-web. A named engine that cannot be loaded is a
 * LipError saying what to install.
 */
export async function loadEngine(choice: EngineChoice | undefined): Promise<{ name: EngineName | 'custom'; ort: OrtModule }> {
  if (choice !== undefined && typeof choice !== 'string') {
    if (!isOrtModule(choice)) {
      throw new InvalidArgumentError("'engine' must be 'node', 'web' or an onnxruntime module (with Tensor and InferenceSession.create)");
    }
    return { name: 'custom', ort: choice };
  }
  if (choice !== undefined && choice !== 'node' && choice !== 'web') {
    throw new InvalidArgumentError(`'engine' must be 'node', 'web' or an onnxruntime module, got ${JSON.stringify(choice)}`);
  }
  const order: EngineName[] = choice ? [choice] : inNode() ? ['node', 'web'] : ['web'];
  if (order[0] === 'node' && !inNode()) throw new LipError("engine 'node' (onnxruntime-node) only runs in Node; use engine 'web' in a browser");
  const reasons: string[] = [];
  for (const name of order) {
    const ort = await importEngine(name);
    if (typeof ort !== 'string') return { name, ort };
    reasons.push(`onnxruntime-${name}: ${ort}`);
  }
  const want = choice ?? (inNode() ? 'node' : 'web');
  throw new LipError(`no onnxruntime engine could be loaded (${reasons.join('; ')}); install onnxruntime-${want} (npm install onnxruntime-${want})`);
}

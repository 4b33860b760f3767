/**
 * The onnxruntime that runs a model (@lip/verify's sessions, @lip/runtime's
 * classifier). Two packages export the same API:
 *  - onnxruntime-web: WebAssembly (WebGPU in browsers); Node and browsers. A
 *    dependency of @lip/verify and @lip/runtime, so always there.
 *  - onnxruntime-node: native, Node only, faster; an optional peer that npm
 *    does not install (its postinstall fetches CUDA files from NuGet, which
 *    fails offline), so it is the accelerator you add.
 * Policy 'auto' takes onnxruntime-node when it loads, else onnxruntime-web.
 * Neither is a dependency of @lip/core: both are required at run time.
 */
import { InvalidArgumentError, LipError } from './errors';

export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>, fetches?: readonly string[], options?: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** The part of an onnxruntime module (`onnxruntime-node`, `onnxruntime-web`) lip uses. */
export interface OrtModule {
  Tensor: new (type: 'float32' | 'float64', data: Float32Array | Float64Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  /** onnxruntime's global settings (`env.wasm.wasmPaths`, `env.wasm.numThreads`, ...). */
  env?: Record<string, unknown>;
}

export type EngineName = 'node' | 'web';
/** 'auto': onnxruntime-node when it loads (Node only), else onnxruntime-web. */
export type EnginePolicy = 'auto' | EngineName;
export const ENGINE_POLICIES: readonly EnginePolicy[] = ['auto', 'node', 'web'];
/** Environment variable read when no engine is passed: auto, node or web. */
export const ENGINE_ENV_VAR = 'LIP_ENGINE';

/** An engine policy, or an onnxruntime module the caller imported. */
export type EngineChoice = EnginePolicy | OrtModule;

/** The engine a session runs on ('custom': a module the caller passed). */
export interface LoadedEngine {
  name: EngineName | 'custom';
  ort: OrtModule;
}

/** Requires one onnxruntime package; throws when it is not installed. Tests inject their own. */
export type EngineRequire = (name: EngineName) => unknown;

export interface EngineLoadOptions {
  /** Default: `require` of onnxruntime-node / onnxruntime-web. */
  requireEngine?: EngineRequire;
  /** Where LIP_ENGINE is read. Default: `process.env` (none in a browser). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default: `inNode()`. */
  node?: boolean;
}

/** A named engine that cannot be loaded: the message names the package and the install command. */
export class EngineUnavailableError extends LipError {}

/** True in Node (and Node-like runtimes), false in a browser. */
export function inNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && typeof (globalThis as { window?: unknown }).window === 'undefined';
}

function isOrtModule(m: unknown): m is OrtModule {
  const o = m as Partial<OrtModule> | null;
  return !!o && typeof o.Tensor === 'function' && !!o.InferenceSession && typeof o.InferenceSession.create === 'function';
}

/** `module.default` for an ES module namespace wrapping a CommonJS export. */
function unwrap(m: unknown): unknown {
  return isOrtModule(m) ? m : (m as { default?: unknown } | null)?.default;
}

function requireOnnxruntime(name: EngineName): unknown {
  // Literal specifiers, so that bundlers see them (@lip/core's package.json `browser` field drops onnxruntime-node).
  return name === 'node' ? require('onnxruntime-node') : require('onnxruntime-web');
}

/** How to get a missing engine, for the error that names it. */
function installHint(name: EngineName): string {
  return name === 'node'
    ? "install it with 'npm install onnxruntime-node' (offline: 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node' " +
        "skips its CUDA download), or use engine 'web'"
    : "install it with 'npm install onnxruntime-web'";
}

/** The policy asked for: `choice`, else LIP_ENGINE, else 'auto'. `param` names where it came from, for errors. */
function resolvePolicy(choice: EnginePolicy | undefined, env: Readonly<Record<string, string | undefined>>): { policy: EnginePolicy; param: string } {
  const fromEnv = choice === undefined ? env[ENGINE_ENV_VAR] : undefined;
  const raw: unknown = choice ?? (fromEnv === undefined || fromEnv === '' ? 'auto' : fromEnv);
  const param = choice === undefined && fromEnv ? ENGINE_ENV_VAR : 'engine';
  if (typeof raw !== 'string' || !(ENGINE_POLICIES as readonly string[]).includes(raw)) {
    throw new InvalidArgumentError(`'${param}' must be 'auto', 'node', 'web' or an onnxruntime module, got ${JSON.stringify(raw)}`);
  }
  return { policy: raw as EnginePolicy, param };
}

function processEnv(): Record<string, string | undefined> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
}

/**
 * The engine to run on, loaded synchronously. `choice` (default: LIP_ENGINE,
 * else 'auto'): 'auto' takes onnxruntime-node when it loads in Node, else
 * onnxruntime-web; 'node' or 'web' that cannot be loaded is an
 * EngineUnavailableError saying what to install; a module is used as given.
 */
export function requireEngine(choice?: EngineChoice, opts: EngineLoadOptions = {}): LoadedEngine {
  if (choice !== undefined && typeof choice !== 'string') {
    if (!isOrtModule(choice)) {
      throw new InvalidArgumentError("'engine' must be 'auto', 'node', 'web' or an onnxruntime module (with Tensor and InferenceSession.create)");
    }
    return { name: 'custom', ort: choice };
  }
  const { policy, param } = resolvePolicy(choice, opts.env ?? processEnv());
  const node = opts.node ?? inNode();
  const load = opts.requireEngine ?? requireOnnxruntime;
  if (policy === 'node' && !node) {
    throw new EngineUnavailableError(`'${param}' node: onnxruntime-node only runs in Node; use engine 'web' in a browser`);
  }
  const order: EngineName[] = policy === 'auto' ? (node ? ['node', 'web'] : ['web']) : [policy];
  const reasons: string[] = [];
  for (const name of order) {
    let m: unknown;
    try {
      m = unwrap(load(name));
    } catch (err) {
      reasons.push(`onnxruntime-${name} cannot be loaded (${String((err as Error)?.message ?? err).split('\n')[0]})`);
      continue;
    }
    if (isOrtModule(m)) return { name, ort: m };
    reasons.push(`onnxruntime-${name} has no InferenceSession here`);
  }
  // The last one tried is the one to install ('auto': onnxruntime-web, which every install has).
  throw new EngineUnavailableError(`'${param}' ${policy}: ${reasons.join('; ')}; ${installHint(order[order.length - 1])}`);
}

/** `requireEngine` for callers that await (the API of @lip/runtime's `CertifiedClassifier.load`). */
export async function loadEngine(choice?: EngineChoice, opts: EngineLoadOptions = {}): Promise<LoadedEngine> {
  return requireEngine(choice, opts);
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

/** `onnxruntime-node` / `onnxruntime-web` / `a custom onnxruntime module`, for messages and summaries. */
export function engineLabel(name: EngineName | 'custom'): string {
  return name === 'custom' ? 'a custom onnxruntime module' : `onnxruntime-${name}`;
}

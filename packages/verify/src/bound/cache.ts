/**
 * The bound cache: `lipschitzBound` results stored on disk, so that `lip
 * verify` and `lip bound` on a model they have seen skip the bound.
 *
 * An entry is used only when its key equals the one computed now, field by
 * field: the sha256 of the whole model file, the bound options (input shape,
 * exact conv, work limits), BOUND_CACHE_VERSION and BOUND_SOURCES_SHA256
 * (./cache_version.ts: they change whenever code that shapes the bound
 * changes, a test sees to it) and the entry format. Its
 * body carries a sha256 of key and bound, and every field is checked for
 * type and range; anything else (unreadable, truncated, edited, another
 * key, another version) is ignored, the bound recomputed and the entry
 * rewritten. Entries are written with `writeFileAtomic` (a reader sees a
 * whole entry or none), without fsync (the check catches an entry a crash
 * tore); a cache that cannot be written (read-only, full) is
 * reported in `BoundCacheReport.note` and changes nothing else. Bounds that
 * fail (a ModelError) are not stored.
 *
 * Folder: `dir`, else $LIP_CACHE_DIR/bounds, else $XDG_CACHE_HOME/lip/bounds,
 * else ~/.cache/lip/bounds (the datasets' cache root, plus `bounds`); one
 * file per key, `<sha256 of the key>.json`. Nothing is ever evicted.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '@lip/core';
import { OnnxModel, ReadOptions, readOnnxModel, readOnnxModelUnfolded } from '../onnx/read';
import { foldModel } from '../ops/fold_model';
import type { BoundLimits, BoundOptions, LayerBound } from './bounder';
import { BOUND_CACHE_VERSION, BOUND_SOURCES_SHA256 } from './cache_version';
import { LinearHead, LipschitzBound, lipschitzBound } from './lipschitz';

/** Layout of an entry file; part of the key. */
const ENTRY_FORMAT = 'lip-bound-cache/1';
/** Entries larger than this are not read (a hostile or broken file must not exhaust memory). */
const MAX_ENTRY_BYTES = 1 << 30;

export interface BoundCacheOptions {
  /** Folder of the entries. Default: `boundCacheDir()`. */
  dir?: string;
  /** Environment read for LIP_CACHE_DIR, XDG_CACHE_HOME and HOME. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** What the cache did for one bound. */
export interface BoundCacheReport {
  /** True when the bound was read from the cache (not computed). */
  used: boolean;
  /** sha256 of the model file's bytes (hex), the first part of the key. */
  sha256: string;
  /** The entry file. */
  path: string;
  /** True when a new entry was written. */
  stored: boolean;
  /** Why an existing entry was ignored, or why none could be written; null when neither happened. */
  note: string | null;
}

/** A model read for the cache: folded as `readOnnxModel` folds it, with the sha256 of the bytes it was read from. */
export interface HashedModel {
  model: OnnxModel;
  sha256: string;
}

/** The default cache folder: $LIP_CACHE_DIR/bounds, else $XDG_CACHE_HOME/lip/bounds, else ~/.cache/lip/bounds. */
export function boundCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const root = env.LIP_CACHE_DIR || (env.XDG_CACHE_HOME ? path.join(env.XDG_CACHE_HOME, 'lip') : path.join(env.HOME || os.homedir(), '.cache', 'lip'));
  return path.join(root, 'bounds');
}

function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * `readOnnxModel(pathOrBytes, opts)` and the sha256 of the bytes it read:
 * the file is read once, so the hash is the hash of what was bounded.
 */
export function readOnnxModelHashed(pathOrBytes: string | Uint8Array, opts: ReadOptions = {}, preread?: ModelFileBytes): HashedModel {
  // Unfolded, `bytes` are the file's own bytes; folding re-encodes them.
  const raw =
    preread !== undefined && typeof pathOrBytes === 'string' ? readOnnxModelUnfolded(pathOrBytes, preread.bytes) : readOnnxModel(pathOrBytes, { fold: false });
  const sha256 = preread !== undefined && raw.bytes === preread.bytes ? preread.sha256 : sha256Hex(raw.bytes);
  const model = opts.fold === false ? raw : foldModel(raw, { inputShape: opts.inputShape });
  return { model, sha256 };
}

/** Everything an entry is valid for (see the module doc). */
export interface CacheKey {
  format: string;
  version: number;
  sources: string;
  sha256: string;
  inputShape: number[] | null;
  exactConv: boolean;
  limits: Partial<Record<keyof BoundLimits, number>>;
}

function cacheKey(model: OnnxModel | null, sha256: string, opts: BoundOptions): CacheKey {
  // An input shape equal to the declared one bounds the same graph as none (`lip verify` passes it, `lip bound` does not).
  const declared = model?.inputs[0]?.shape?.slice(1) ?? [];
  const given = opts.inputShape;
  const inputShape = given && !(given.length === declared.length && given.every((d, i) => d === declared[i])) ? [...given] : null;
  const limits: Partial<Record<keyof BoundLimits, number>> = {};
  for (const name of Object.keys(opts.limits ?? {}).sort() as (keyof BoundLimits)[]) {
    const v = opts.limits![name];
    if (v !== undefined) limits[name] = v;
  }
  return {
    format: ENTRY_FORMAT,
    version: BOUND_CACHE_VERSION,
    sources: BOUND_SOURCES_SHA256,
    sha256,
    inputShape,
    exactConv: opts.exactConv !== false,
    limits,
  };
}

/** The JSON form of a bound: numbers as JSON numbers (exact for finite doubles), the head's weights as little-endian float64 in base64. */
type StoredBound = Omit<LipschitzBound, 'head'> & { head: (Omit<LinearHead, 'weights'> & { weights: string }) | null };

function toStored(b: LipschitzBound): StoredBound {
  let head: StoredBound['head'] = null;
  if (b.head) {
    const buf = Buffer.alloc(b.head.weights.length * 8);
    b.head.weights.forEach((w, i) => buf.writeDoubleLE(w, i * 8));
    head = { node: b.head.node, classes: b.head.classes, dim: b.head.dim, weights: buf.toString('base64'), bodyLipschitz: b.head.bodyLipschitz };
  }
  return { total: b.total, layers: b.layers, warnings: b.warnings, inputShape: b.inputShape, outputShape: b.outputShape, head };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isBound = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const isDims = (x: unknown): x is number[] => Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= 0);
const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');

function isLayer(x: unknown): x is LayerBound {
  return (
    isObject(x) &&
    typeof x.node === 'string' &&
    typeof x.value === 'string' &&
    typeof x.op === 'string' &&
    isStrings(x.nodes) &&
    isBound(x.factor) &&
    isBound(x.cumulative) &&
    typeof x.method === 'string' &&
    isDims(x.outputShape)
  );
}

/** The bound in `x` when every field has its type and range; null otherwise. */
function fromStored(x: unknown): LipschitzBound | null {
  if (
    !isObject(x) ||
    !isBound(x.total) ||
    !Array.isArray(x.layers) ||
    !x.layers.every(isLayer) ||
    !isStrings(x.warnings) ||
    !isDims(x.inputShape) ||
    !isDims(x.outputShape)
  )
    return null;
  let head: LinearHead | null = null;
  if (x.head !== null) {
    const h = x.head;
    if (
      !isObject(h) ||
      typeof h.node !== 'string' ||
      !Number.isSafeInteger(h.classes) ||
      !Number.isSafeInteger(h.dim) ||
      typeof h.weights !== 'string' ||
      !isBound(h.bodyLipschitz)
    )
      return null;
    const [classes, dim] = [h.classes as number, h.dim as number];
    const buf = Buffer.from(h.weights, 'base64');
    if (classes < 1 || dim < 1 || buf.length !== classes * dim * 8) return null;
    const weights = new Float64Array(classes * dim);
    for (let i = 0; i < weights.length; i++) {
      weights[i] = buf.readDoubleLE(i * 8);
      if (!Number.isFinite(weights[i])) return null;
    }
    head = { node: h.node, classes, dim, weights, bodyLipschitz: h.bodyLipschitz };
  }
  return { total: x.total, layers: x.layers, warnings: x.warnings, inputShape: x.inputShape, outputShape: x.outputShape, head };
}

/** The entry's bound, or why it cannot be used (`replace`: a new entry may be written over it); null: no entry. */
function readEntry(file: string, key: CacheKey): { bound: LipschitzBound } | { ignored: string; replace: boolean } | null {
  const ignored = (why: string): { ignored: string; replace: boolean } => ({ ignored: why, replace: true });
  let text: string;
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (st === undefined) return null;
    // Never open a FIFO or a device: reading or writing it could block or never end.
    if (!st.isFile()) return { ignored: 'it is not a regular file', replace: false };
    if (st.size > MAX_ENTRY_BYTES) return ignored(`it is larger than ${MAX_ENTRY_BYTES} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A file where a folder of the path should be: no entry (the write below says why none is stored).
    if (code === 'ENOTDIR') return null;
    return ignored(`it cannot be read (${code ?? (err as Error).message})`);
  }
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    return ignored('it is not valid JSON (truncated or corrupt)');
  }
  if (!isObject(entry) || !isObject(entry.key) || typeof entry.check !== 'string') return ignored('it is not a bound cache entry');
  if (JSON.stringify(entry.key) !== JSON.stringify(key)) return ignored('its key is another model, options or bound version');
  if (sha256Hex(JSON.stringify([entry.key, entry.bound])) !== entry.check) return ignored('its checksum does not match (corrupt or edited)');
  const bound = fromStored(entry.bound);
  return bound ? { bound } : ignored('its bound is malformed');
}

/**
 * Whether the cache has an entry for a model of these bytes bounded with the
 * default options on its declared input shape (the usual `lip verify`): a
 * cheap hint, taken before the model is read (a stat, no parsing);
 * `lookupCachedBound` decides.
 */
export function boundCacheHasEntryFor(bytes: Uint8Array | ModelFileBytes | null, cache: BoundCacheOptions = {}): boolean {
  if (bytes === null) return false;
  const sha256 = bytes instanceof Uint8Array ? sha256Hex(bytes) : bytes.sha256;
  try {
    return fs.statSync(entryFile(cacheKey(null, sha256, {}), cache), { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

/** A model file's bytes, read once, and their sha256. */
export interface ModelFileBytes {
  bytes: Uint8Array;
  sha256: string;
}

/** The bytes and hash of `file` when it is a readable regular file; else null (`readOnnxModel(file)` then says why). */
export function readModelFileBytes(file: string): ModelFileBytes | null {
  try {
    if (!fs.statSync(file).isFile()) return null;
    const bytes = new Uint8Array(fs.readFileSync(file));
    return { bytes, sha256: sha256Hex(bytes) };
  } catch {
    return null;
  }
}

/** The entry file of `key`. */
function entryFile(key: CacheKey, cache: BoundCacheOptions): string {
  return path.join(cache.dir ?? boundCacheDir(cache.env), `${sha256Hex(JSON.stringify(key))}.json`);
}

/** A cache look-up that found no usable entry: what `storeCachedBound` needs to write one. */
export interface BoundCacheMiss {
  sha256: string;
  /** The entry file. */
  path: string;
  key: CacheKey;
  /** The entry there that was ignored, and whether a new one may replace it; null: none. */
  found: { ignored: string; replace: boolean } | null;
}

/**
 * The cached bound of `model` (read from bytes whose sha256 is `sha256`) with
 * these options, when an entry has exactly this key; else what
 * `storeCachedBound` needs to store the bound once it is computed.
 */
export function lookupCachedBound(
  model: OnnxModel,
  sha256: string,
  opts: BoundOptions = {},
  cache: BoundCacheOptions = {},
): { bound: LipschitzBound; cache: BoundCacheReport } | { miss: BoundCacheMiss } {
  const key = cacheKey(model, sha256, opts);
  const file = entryFile(key, cache);
  const found = readEntry(file, key);
  if (found && 'bound' in found) return { bound: found.bound, cache: { used: true, sha256, path: file, stored: false, note: null } };
  return { miss: { sha256, path: file, key, found } };
}

/** Stores `bound`, computed after the look-up `miss`, atomically; the report says whether it was written, or why not. */
export function storeCachedBound(miss: BoundCacheMiss, bound: LipschitzBound): BoundCacheReport {
  const { sha256, path: file, key, found } = miss;
  const notes = found ? [`ignored the cache entry ${file}: ${found.ignored}`] : [];
  const stored = toStored(bound);
  const text = JSON.stringify([key, stored]);
  let written = false;
  // A bound JSON cannot hold (an infinite factor on a branch that does not reach the output) is not stored.
  if ((!found || found.replace) && fromStored(JSON.parse(text)[1]) !== null) {
    try {
      // Not fsynced (about 7 ms at the end of every cold `lip verify`): an entry a crash tears fails its check and is rewritten.
      writeFileAtomic(file, `${JSON.stringify({ key, check: sha256Hex(text), bound: stored })}\n`, { durable: false });
      written = true;
    } catch (err) {
      notes.push(`cannot write the bound cache (${(err as Error).message}); the bound was computed and used`);
    }
  }
  return { used: false, sha256, path: file, stored: written, note: notes.length > 0 ? notes.join('; ') : null };
}

/**
 * The bound of `model` (read from bytes whose sha256 is `sha256`, e.g. by
 * `readOnnxModelHashed`): the cached one when an entry has exactly this key,
 * else `lipschitzBound(model, opts)`, then stored. Throws what
 * `lipschitzBound` throws; the cache itself never makes it fail.
 */
export function cachedLipschitzBound(
  model: OnnxModel,
  sha256: string,
  opts: BoundOptions = {},
  cache: BoundCacheOptions = {},
): { bound: LipschitzBound; cache: BoundCacheReport } {
  const looked = lookupCachedBound(model, sha256, opts, cache);
  if (!('miss' in looked)) return looked;
  const bound = lipschitzBound(model, opts);
  return { bound, cache: storeCachedBound(looked.miss, bound) };
}

/**
 * onnxruntime session wrapper: runs images through the model in batches
 * after checking them against what the model declares (input shape, finite
 * values, metadata `input_range`). A graph whose batch dimension is a fixed
 * number B (exporters write B = 1 unless told otherwise) is run B images at a
 * time, the last call padded with zeros. The engine (onnxruntime-node or
 * onnxruntime-web) is @lip/core's `requireEngine` choice.
 */
import { DataError, EngineChoice, EngineName, InvalidArgumentError, ModelError, ModelTooLargeError, OrtTensor, requireEngine } from '@lip/core';
import { largestValueElements } from './bound/propagate';
import { OnnxDim, OnnxModel, metadataJson, readOnnxModel } from './onnx/read';

/** Default images per onnxruntime call. */
export const DEFAULT_VERIFY_BATCH_SIZE = 256;
/** Inputs may exceed the metadata `input_range` by this much (rounding in preprocessing). */
export const INPUT_RANGE_TOLERANCE = 1e-6;
/**
 * Largest batch x (elements of the model's largest value) one onnxruntime call
 * may need: 2^26 (256 MiB of float32). Batches of a model with large
 * activations are split further so memory stays bounded.
 */
export const SESSION_VALUE_BUDGET = 2 ** 26;

export interface SessionOptions {
  /** onnxruntime intra-op threads (onnxruntime-web: `env.wasm.numThreads`, read at its first session). Default: onnxruntime's choice. */
  threads?: number;
  /** 'auto' (onnxruntime-node when installed, else onnxruntime-web), 'node', 'web' or an onnxruntime module. Default: LIP_ENGINE, else 'auto'. */
  engine?: EngineChoice;
  /**
   * False: onnxruntime-node's idle intra-op threads sleep instead of spinning
   * (`session.intra_op.allow_spinning` 0), which leaves the cores to other
   * work of this process (`lip verify`'s bound thread) at the same speed on a
   * lone run. Same logits either way. Default: onnxruntime's (spinning).
   */
  spinWait?: boolean;
}

export interface LipSession {
  readonly model: OnnxModel;
  /** The onnxruntime it runs on ('custom': a module passed as `engine`). */
  readonly engine: EngineName | 'custom';
  readonly inputName: string;
  readonly outputName: string;
  /** Declared input shape without the batch dimension, e.g. [1, 28, 28]; null or a string where not fixed. */
  readonly inputShape: readonly OnnxDim[];
  /** Images per onnxruntime call the graph requires (its fixed batch dimension, e.g. 1), or null when the batch is free. */
  readonly fixedBatch: number | null;
  /** Metadata `input_range`, or null when the model declares none. */
  readonly inputRange: readonly [number, number] | null;
  /**
   * Runs `n` images (row-major `[n, ...chw]`) in batches of `batchSize` and
   * returns the logits row-major `[n, outputSize]`. `onBatch(done, n)` is
   * called after each batch. Every value is checked to be finite and within
   * `inputRange` first, unless `known.valueRange` (the range the values are
   * known to lie in, e.g. `LabeledImages.valueRange` of 8-bit data) already
   * says so.
   */
  runBatched(
    images: Float32Array,
    n: number,
    chw: readonly number[],
    batchSize?: number,
    onBatch?: (done: number, total: number) => void,
    known?: { valueRange?: readonly [number, number] },
  ): Promise<Float32Array>;
  /** Logits per image; known after the first run (or from the declared output shape). */
  readonly outputSize: number | null;
  /** Frees the native session. */
  close(): Promise<void>;
}

/** Feed shape for `chw` per the model's declared input, or a DataError naming both shapes. */
function feedShape(declared: readonly OnnxDim[], chw: readonly number[], source: string): number[] {
  const size = chw.reduce((a, b) => a * b, 1);
  const fits = (shape: readonly number[]): boolean => shape.length === declared.length && declared.every((d, i) => typeof d !== 'number' || d === shape[i]);
  if (fits(chw)) return [...chw];
  // A dense model with a flattened input.
  if (fits([size])) return [size];
  // Single-channel NHWC has the same memory layout as NCHW.
  if (chw.length === 3 && chw[0] === 1 && fits([chw[1], chw[2], 1])) return [chw[1], chw[2], 1];
  throw new DataError(
    `the model '${source}' expects inputs of shape [N, ${declared.map((d) => d ?? '?').join(', ')}] ` +
      `but the data has shape [N, ${chw.join(', ')}]; use data that matches the model (or the model trained on this data).`,
  );
}

/**
 * onnxruntime's whole message on one line, without its C++ source locations
 * (`/onnxruntime_src/...cc:360 void f(...)`; the details are on the later
 * lines: `index: 0 Got: 2 Expected: 1`) or onnxruntime-web's wrapper
 * (`failed to call OrtRun(). ERROR_CODE: 2, ERROR_MESSAGE: `).
 */
export function ortMessage(err: unknown): string {
  return String((err as Error)?.message ?? err)
    .replace(/^failed to call Ort\w+\(\)\. ERROR_CODE: \d+, ERROR_MESSAGE: /, '')
    .replace(/\/onnxruntime_src\/\S+:\d+ (?:[^()]*\([^()]*\)(?: const)? )?/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Most images per onnxruntime call on inputs of per-sample shape `feed`, so
 * that batch x (largest value) stays within SESSION_VALUE_BUDGET. The largest
 * value is the folding's when it was folded for `feed`, else from a shape
 * pass, which refuses (ModelTooLargeError) a graph whose shapes exceed
 * MAX_VALUE_ELEMENTS; a graph the shape pass cannot follow gets no cap
 * (onnxruntime then checks it).
 */
function batchCap(model: OnnxModel, feed: number[]): number {
  const folded = model.folding;
  let largest: number;
  try {
    largest = folded?.largestValue != null && folded.inputShape?.join() === feed.join() ? folded.largestValue : largestValueElements(model, feed);
  } catch (err) {
    if (err instanceof ModelTooLargeError || !(err instanceof ModelError)) throw err;
    return Infinity;
  }
  return Math.max(1, Math.floor(SESSION_VALUE_BUDGET / Math.max(1, largest)));
}

/** Largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Refuses the first non-finite or out-of-range value, before any inference:
 * one read-only pass with a single comparison pair per value (NaN and
 * +-Infinity fail it too); the message is worked out only for a bad value.
 */
function checkValues(images: Float32Array, perImage: number, range: readonly [number, number] | null): void {
  const lo = range ? range[0] - INPUT_RANGE_TOLERANCE : -FLOAT32_MAX;
  const hi = range ? range[1] + INPUT_RANGE_TOLERANCE : FLOAT32_MAX;
  let bad = -1;
  for (let i = 0; i < images.length; i++) {
    const v = images[i];
    if (!(v >= lo && v <= hi)) {
      bad = i;
      break;
    }
  }
  if (bad < 0) return;
  const v = images[bad];
  const where = `input image ${Math.floor(bad / perImage)} holds ${v} at pixel ${bad % perImage}`;
  if (!Number.isFinite(v)) throw new DataError(`${where}; inputs must be finite numbers (check the data files and preprocessing).`);
  throw new DataError(`${where}, outside the model's input_range [${range![0]}, ${range![1]}]; scale the data to that range.`);
}

/** True when `known` (finite) lies within `range` (with checkValues' tolerance), or within float32 when the model declares no range. */
function withinRange(known: readonly [number, number] | undefined, range: readonly [number, number] | null): boolean {
  if (known === undefined || !(Number.isFinite(known[0]) && Number.isFinite(known[1]))) return false;
  const lo = range ? range[0] - INPUT_RANGE_TOLERANCE : -FLOAT32_MAX;
  const hi = range ? range[1] + INPUT_RANGE_TOLERANCE : FLOAT32_MAX;
  return known[0] >= lo && known[1] <= hi;
}

/** Reads the metadata `input_range` (`[lo, hi]`); null when absent. */
export function modelInputRange(model: OnnxModel): readonly [number, number] | null {
  const r = metadataJson<unknown>(model, 'input_range');
  if (r === undefined) return null;
  if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && Number.isFinite(x)) || r[0] > r[1]) {
    throw new ModelError(`'${model.source}': metadata input_range must be [lo, hi] with lo <= hi, got ${model.metadata.input_range}; re-export the model.`);
  }
  return [r[0], r[1]];
}

/** Opens an onnxruntime session on a model file, bytes or an already-read model. */
export async function openSession(pathOrBytes: string | Uint8Array | OnnxModel, opts: SessionOptions = {}): Promise<LipSession> {
  const model = typeof pathOrBytes === 'string' || pathOrBytes instanceof Uint8Array ? readOnnxModel(pathOrBytes) : pathOrBytes;
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw new InvalidArgumentError(`'threads' must be an integer >= 1, got ${opts.threads}`);
  }
  if (model.inputs.length !== 1) {
    throw new ModelError(
      `'${model.source}' has ${model.inputs.length} inputs (${model.inputs.map((v) => v.name).join(', ')}); ` +
        'only single-input image classifiers can be verified.',
    );
  }
  const input = model.inputs[0];
  if (input.elemType !== 'float32') {
    throw new ModelError(`'${model.source}': input '${input.name}' has type ${input.elemType}; a float32 image input is required.`);
  }
  if (!input.shape || input.shape.length < 2) {
    throw new ModelError(`'${model.source}': input '${input.name}' declares no batched shape; expected [N, C, H, W] or [N, features].`);
  }
  const inputShape = input.shape.slice(1);
  const fixedBatch = typeof input.shape[0] === 'number' && input.shape[0] > 0 ? input.shape[0] : null;
  const inputRange = modelInputRange(model);
  const output = model.outputs[0];
  const declaredOut = output.shape && output.shape.length === 2 && typeof output.shape[1] === 'number' ? output.shape[1] : null;

  const { name: engine, ort } = requireEngine(opts.engine);
  const options: Record<string, unknown> = {
    executionMode: 'sequential',
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // Fatal only: errors come back as exceptions and are reported once, as one line.
    logSeverityLevel: 4,
  };
  if (opts.spinWait === false && engine === 'node') options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  if (opts.threads !== undefined) {
    options.intraOpNumThreads = opts.threads;
    // onnxruntime-web ignores intraOpNumThreads: its wasm thread pool is sized once, from env, at its first session.
    const wasm = ort.env?.wasm as { numThreads?: number } | undefined;
    if (engine === 'web' && wasm) wasm.numThreads = opts.threads;
  }
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(model.bytes, options);
  } catch (err) {
    throw new ModelError(`onnxruntime cannot load '${model.source}': ${ortMessage(err)}; re-export the model with 'lip export'.`);
  }

  let outputSize: number | null = declaredOut;
  const batchCaps = new Map<string, number>();
  const run = async (
    images: Float32Array,
    n: number,
    chw: readonly number[],
    batchSize = DEFAULT_VERIFY_BATCH_SIZE,
    onBatch?: (done: number, total: number) => void,
    known: { valueRange?: readonly [number, number] } = {},
  ): Promise<Float32Array> => {
    if (!(images instanceof Float32Array)) throw new InvalidArgumentError(`'images' must be a Float32Array`);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'n' must be a non-negative integer, got ${n}`);
    if (!Array.isArray(chw) || chw.length === 0 || !chw.every((d) => Number.isInteger(d) && d > 0)) {
      throw new InvalidArgumentError(`'chw' must be positive integer dims such as [1, 28, 28], got [${chw}]`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidArgumentError(`'batchSize' must be an integer >= 1, got ${batchSize}`);
    const perImage = chw.reduce((a, b) => a * b, 1);
    if (images.length !== n * perImage) {
      throw new InvalidArgumentError(`'images' holds ${images.length} values, but n=${n} images of [${chw.join(', ')}] need ${n * perImage}`);
    }
    const shape = feedShape(inputShape, chw, model.source);
    if (!withinRange(known.valueRange, inputRange)) checkValues(images, perImage, inputRange);
    const key = shape.join('x');
    let cap = batchCaps.get(key);
    if (cap === undefined) {
      cap = batchCap(model, shape);
      batchCaps.set(key, cap);
    }
    // A fixed batch B: every call holds exactly B images (the last one padded with zeros, its extra rows dropped).
    const step = fixedBatch ?? Math.min(batchSize, cap);
    let logits: Float32Array | null = null;
    for (let start = 0; start < n; start += step) {
      const m = Math.min(step, n - start);
      const rows = fixedBatch ?? m;
      // A view of the images, copied only to pad the last call of a fixed batch.
      let batch = images.subarray(start * perImage, (start + m) * perImage);
      if (rows !== m) {
        const padded = new Float32Array(rows * perImage);
        padded.set(batch);
        batch = padded;
      }
      let out: OrtTensor;
      try {
        const result = await session.run({ [input.name]: new ort.Tensor('float32', batch, [rows, ...shape]) }, [output.name], { logSeverityLevel: 4 });
        out = result[output.name];
      } catch (err) {
        throw new ModelError(`onnxruntime failed on '${model.source}': ${ortMessage(err)}`);
      }
      const k = out.dims.slice(1).reduce((a, b) => a * b, 1);
      if (out.dims[0] !== rows) throw new ModelError(`'${model.source}': output '${output.name}' has batch ${out.dims[0]}, expected ${rows}`);
      if (logits === null) {
        outputSize = k;
        logits = new Float32Array(n * k);
      } else if (k !== outputSize) {
        throw new ModelError(`'${model.source}': output size changed between batches (${outputSize} then ${k})`);
      }
      const data = (out.data as Float32Array).subarray(0, m * k);
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i])) {
          throw new ModelError(`'${model.source}' produced a non-finite logit (${data[i]}) for image ${start + Math.floor(i / k)}; the model is broken.`);
        }
      }
      logits.set(data, start * k);
      onBatch?.(start + m, n);
    }
    return logits ?? new Float32Array(0);
  };

  return {
    model,
    engine,
    inputName: input.name,
    outputName: output.name,
    inputShape,
    fixedBatch,
    inputRange,
    runBatched: run,
    get outputSize() {
      return outputSize;
    },
    close: async () => {
      await session.release();
    },
  };
}

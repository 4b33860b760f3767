/**
 * `CertifiedClassifier`: a lip-exported ONNX model on onnxruntime, whose
 * every prediction comes with its certified L2 radius (no input closer than
 * the radius can change the predicted class; see docs/architecture.md,
 * "What a certificate guarantees").
 *
 * The radius rests on the file's claims (`lipschitz_constant`, head norms),
 * which `lip export` makes true by construction and `lip bound` checks from
 * the weights. `checkBound: true` repeats that check at load time (Node only).
 */
import { InvalidArgumentError, LipError, ModelError } from '@lip/core';
import { EngineChoice, EngineName, OrtModule, OrtSession, applyEnv, inNode, loadEngine } from '@lip/core/engine';
import { certifiedRadius, predictedClass } from './certificates';
import { CertificateContract, readContract } from './contract';
import { ONNX_FLOAT, OnnxSummary, readOnnxSummary } from './onnx_summary';
import { ModelSource, describeSource, readSource } from './source';

/** Inputs per onnxruntime call when the caller does not say. */
export const DEFAULT_RUNTIME_BATCH = 256;

export interface LoadOptions {
  /**
   * 'auto', 'node' (onnxruntime-node), 'web' (onnxruntime-web) or an onnxruntime module. Default: LIP_ENGINE when set, else
   * 'auto': onnxruntime-node in Node when installed, else onnxruntime-web.
   */
  engine?: EngineChoice;
  /** Lipschitz constant to certify with instead of the file's `lipschitz_constant` (required when the file has none). */
  lipschitz?: number;
  /** Recompute the sound bound from the weights and refuse a file whose claims are below it (Node, needs @lip/verify). Default false. */
  checkBound?: boolean;
  /** Settings copied into onnxruntime's `env` first (for example `{ wasm: { wasmPaths: '/ort/', numThreads: 1 } }`). */
  env?: Record<string, unknown>;
  /** Passed to `InferenceSession.create` (for example `{ executionProviders: ['webgpu', 'wasm'] }`). */
  sessionOptions?: Record<string, unknown>;
  /** Inputs per onnxruntime call. Default DEFAULT_RUNTIME_BATCH. */
  batchSize?: number;
}

/** One input's result. */
export interface Classification {
  /** Predicted class (binary models: 1 when the logit is > 0). */
  label: number;
  className: string;
  /** The logits. */
  scores: Float32Array;
  /** Certified L2 radius around the input (0 when the margin does not clear the rounding allowance). */
  certifiedRadius: number;
}

/** What `checkBound` found. */
export interface BoundCheck {
  /** Certified bound on L (`lip bound`'s total). */
  total: number;
  /** Certified bound on L_body, when the file has head norms. */
  body: number | null;
}

/** A batch: inputs concatenated (`n * inputSize` values, NCHW per input), or one array per input. */
export type Batch = Float32Array | readonly ArrayLike<number>[];

/** The shape of the graph's input and output, checked. */
function ioShapes(s: OnnxSummary, source: string): { inputShape: number[]; classes: number | null } {
  if (s.inputs.length !== 1 || s.outputs.length < 1) {
    throw new ModelError(
      `'${source}' has ${s.inputs.length} inputs and ${s.outputs.length} outputs; a classifier has one input and its logits as first output`,
    );
  }
  const input = s.inputs[0];
  if (input.elemType !== ONNX_FLOAT) throw new ModelError(`'${source}': input '${input.name}' is not float32 (ONNX type ${input.elemType})`);
  const dims = input.shape;
  const rest = dims ? dims.slice(1) : [];
  if (!dims || dims.length < 2 || !rest.every((d): d is number => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
    throw new ModelError(`'${source}': input '${input.name}' has shape [${(dims ?? []).join(', ')}]; the runtime needs a batch dimension and fixed others`);
  }
  const out = s.outputs[0].shape;
  const last = out && out.length === 2 ? out[1] : null;
  return { inputShape: rest, classes: typeof last === 'number' && Number.isInteger(last) && last > 0 ? last : null };
}

/** The part of @lip/verify that checkBound uses. */
interface VerifyBoundApi {
  lipschitzBound(model: Uint8Array): { total: number; head: { classes: number; dim: number; weights: Float64Array; bodyLipschitz: number } | null };
  headRowDistances(head: { classes: number; dim: number; weights: Float64Array }): Float64Array;
}

// A variable, not a literal: bundlers leave @lip/verify (its reader, bound and Node file access) out of browser bundles.
const VERIFY_PACKAGE = '@lip/verify';

/**
 * The sound bound from the weights, by @lip/verify's `lipschitzBound`,
 * imported only here, in Node: @lip/verify's main entry is tfjs-free (its attacks sit behind @lip/verify/attacks),
 * but it reads files and is not needed to classify.
 */
async function checkClaims(bytes: Uint8Array, contract: CertificateContract, classes: number, source: string): Promise<BoundCheck> {
  if (!inNode()) throw new LipError("'checkBound' needs Node (it runs @lip/verify); check the file with lip bound before serving it instead");
  let verify: VerifyBoundApi;
  try {
    verify = (await import(VERIFY_PACKAGE)) as VerifyBoundApi;
  } catch (err) {
    throw new LipError(`'checkBound' needs @lip/verify (npm install @lip/verify): ${(err as Error).message.split('\n')[0]}`);
  }
  const bound = verify.lipschitzBound(bytes);
  const whose = contract.lipschitzSource === 'caller' ? "the 'lipschitz' option" : 'its lipschitz_constant';
  if (contract.lipschitz < bound.total) {
    throw new ModelError(
      `'${source}': ${whose} is L = ${contract.lipschitz} but its weights give a certified bound of ${bound.total} ` +
        '(lip bound): its certificates would not hold; re-export the model or pass a lipschitz at least the bound',
    );
  }
  if (!contract.head) return { total: bound.total, body: null };
  const head = bound.head;
  if (!head || head.classes !== classes) {
    throw new ModelError(`'${source}': metadata has head norms but the graph does not end in a linear layer of ${classes} outputs; re-export the model`);
  }
  if (contract.head.bodyLipschitz < head.bodyLipschitz) {
    throw new ModelError(
      `'${source}': metadata head_body_lipschitz is ${contract.head.bodyLipschitz} but the weights give a certified bound of ` +
        `${head.bodyLipschitz} for the layers before the head; re-export the model`,
    );
  }
  const dist = verify.headRowDistances(head);
  for (let i = 0; i < dist.length; i++) {
    // Both sides are rounded up by (1 + 1e-12); a metadata distance below the weights' would inflate radii.
    if (contract.head.rowDistances[i] < dist[i] * (1 - 1e-12)) {
      const [a, b] = [Math.floor(i / classes), i % classes];
      throw new ModelError(
        `'${source}': metadata head_row_distances[${a}][${b}] is ${contract.head.rowDistances[i]} but the head's weights ` +
          `give ${dist[i]}; re-export the model`,
      );
    }
  }
  return { total: bound.total, body: head.bodyLipschitz };
}

function checkBatchSize(v: number | undefined): number {
  if (v === undefined) return DEFAULT_RUNTIME_BATCH;
  if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`'batchSize' must be an integer >= 1, got ${String(v)}`);
  return v;
}

export class CertifiedClassifier {
  /** How the model was named (`<bytes>` for bytes). */
  readonly source: string;
  /** The engine it runs on. */
  readonly engine: EngineName | 'custom';
  /** Shape of one input, without the batch (e.g. `[1, 28, 28]`). */
  readonly inputShape: readonly number[];
  /** Values per input. */
  readonly inputSize: number;
  /** Logits per input (1 for a binary model). */
  readonly outputs: number;
  /** The checked certificate contract (L, form, class names, input range, head norms). */
  readonly contract: CertificateContract;
  /** The file's `metadata_props`. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The bounds `checkBound` computed, else null. */
  readonly boundCheck: BoundCheck | null;

  private readonly ort: OrtModule;
  private session: OrtSession | null;
  private readonly batchSize: number;

  private constructor(init: {
    source: string;
    engine: EngineName | 'custom';
    ort: OrtModule;
    session: OrtSession;
    inputShape: number[];
    outputs: number;
    contract: CertificateContract;
    metadata: Record<string, string>;
    boundCheck: BoundCheck | null;
    batchSize: number;
  }) {
    this.source = init.source;
    this.engine = init.engine;
    this.ort = init.ort;
    this.session = init.session;
    this.inputShape = Object.freeze([...init.inputShape]);
    this.inputSize = init.inputShape.reduce((a, d) => a * d, 1);
    this.outputs = init.outputs;
    this.contract = init.contract;
    this.metadata = Object.freeze({ ...init.metadata });
    this.boundCheck = init.boundCheck;
    this.batchSize = init.batchSize;
  }

  /**
   * Loads a model from a path (Node), a URL or its bytes, checks its metadata
   * contract, and opens an onnxruntime session. A file that states no
   * `lipschitz_constant` is refused unless `lipschitz` is given.
   */
  static async load(source: ModelSource, opts: LoadOptions = {}): Promise<CertifiedClassifier> {
    const name = describeSource(source);
    const batchSize = checkBatchSize(opts.batchSize);
    const { name: engine, ort } = await loadEngine(opts.engine);
    if (opts.env) applyEnv(ort, opts.env);
    const bytes = await readSource(source);
    const summary = readOnnxSummary(bytes, name);
    const io = ioShapes(summary, name);
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(bytes, opts.sessionOptions ?? {});
    } catch (err) {
      throw new ModelError(`onnxruntime (${engine}) cannot load '${name}': ${String((err as Error).message ?? err).split('\n')[0]}`);
    }
    try {
      let classes = io.classes;
      if (classes === null) {
        // The file does not declare its class count: one run on zeros tells.
        const out = await session.run({
          [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(io.inputShape.reduce((a, d) => a * d, 1)), [1, ...io.inputShape]),
        });
        classes = (out[session.outputNames[0]].data as Float32Array).length;
      }
      const contract = readContract(summary.metadata, classes, name, opts.lipschitz);
      const boundCheck = opts.checkBound ? await checkClaims(bytes, contract, classes, name) : null;
      return new CertifiedClassifier({
        source: name,
        engine,
        ort,
        session,
        inputShape: io.inputShape,
        outputs: classes,
        contract,
        metadata: summary.metadata,
        boundCheck,
        batchSize,
      });
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Class names, one per class. */
  get classNames(): readonly string[] {
    return this.contract.classNames;
  }

  /** The certified radius and label of one input's logits. */
  certify(scores: ArrayLike<number>): { label: number; certifiedRadius: number } {
    if (scores.length !== this.outputs) throw new InvalidArgumentError(`'scores' must hold ${this.outputs} logits, got ${scores.length}`);
    return { label: predictedClass(scores), certifiedRadius: certifiedRadius(scores, this.contract) };
  }

  /** The logits of a batch (`[n, outputs]`, row-major). */
  async logits(batch: Batch): Promise<{ logits: Float32Array; n: number }> {
    const session = this.session;
    if (!session) throw new LipError(`the classifier of '${this.source}' was disposed; load it again`);
    const { data, n } = this.flatten(batch);
    const logits = new Float32Array(n * this.outputs);
    for (let start = 0; start < n; start += this.batchSize) {
      const m = Math.min(this.batchSize, n - start);
      const x = data.subarray(start * this.inputSize, (start + m) * this.inputSize);
      const out = await session.run({ [session.inputNames[0]]: new this.ort.Tensor('float32', x, [m, ...this.inputShape]) });
      const y = out[session.outputNames[0]].data as Float32Array;
      if (y.length !== m * this.outputs) {
        throw new ModelError(`'${this.source}' returned ${y.length} values for ${m} inputs; expected ${this.outputs} per input`);
      }
      logits.set(y, start * this.outputs);
    }
    return { logits, n };
  }

  /** Predicted class, class name, logits and certified radius of each input. */
  async classify(batch: Batch): Promise<Classification[]> {
    const { logits, n } = await this.logits(batch);
    const k = this.outputs;
    return Array.from({ length: n }, (_, i) => {
      const scores = logits.slice(i * k, (i + 1) * k);
      const { label, certifiedRadius } = this.certify(scores);
      return { label, className: this.contract.classNames[label], scores, certifiedRadius };
    });
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s) await s.release();
  }

  /** The batch as one Float32Array, checked: whole inputs, finite values. */
  private flatten(batch: Batch): { data: Float32Array; n: number } {
    const per = this.inputSize;
    const shape = `[${this.inputShape.join(', ')}]`;
    let data: Float32Array;
    if (batch instanceof Float32Array) {
      if (batch.length % per !== 0) {
        throw new InvalidArgumentError(`'batch' holds ${batch.length} values, not a whole number of inputs of ${per} values (${shape})`);
      }
      data = batch;
    } else if (Array.isArray(batch)) {
      data = new Float32Array(batch.length * per);
      batch.forEach((x: ArrayLike<number>, i: number) => {
        if (!x || x.length !== per) throw new InvalidArgumentError(`'batch[${i}]' must hold ${per} values (${shape}), got ${x ? x.length : String(x)}`);
        data.set(x, i * per);
      });
    } else {
      throw new InvalidArgumentError(`'batch' must be a Float32Array or an array of inputs, got ${Object.prototype.toString.call(batch)}`);
    }
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new InvalidArgumentError(`'batch' input ${Math.floor(i / per)} holds ${data[i]} at index ${i % per}; inputs must be finite numbers`);
      }
    }
    return { data, n: data.length / per };
  }
}

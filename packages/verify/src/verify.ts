/**
 * `verifyModel`: accuracy, certificates and certified robust accuracy of an
 * ONNX model on labelled images, with the Lipschitz constant checked against
 * a bound computed from the weights (`chooseLipschitz`). Certificates and
 * radii are in the units of the data as given: preprocessing outside the
 * graph (`scale`, `mean`, `std`) is undone on the certificates
 * (model_input.ts).
 */
import { ArrayLayout, DEFAULT_EPSILONS, DataError, DatasetSplit, EngineChoice, EngineName, InvalidArgumentError, requireEngine } from '@lip/core';
import { BackgroundBound, SpareBoundThread, backgroundBound, boundWorkerScript } from './background_bound';
import { takePrestartedBoundThread } from './bound_thread';
import {
  BoundCacheMiss,
  BoundCacheOptions,
  BoundCacheReport,
  boundCacheHasEntryFor,
  readModelFileBytes,
  cachedLipschitzBound,
  lookupCachedBound,
  readOnnxModelHashed,
  storeCachedBound,
} from './bound/cache';
import { CertificateKind, certifiedRobustAccuracy, multiclassCertificates, predictClasses } from './certificates';
import { VerifyData, loadVerifyData } from './data';
import { LipschitzChoice, LipschitzSource, certifyLogits, chooseLipschitz } from './model_certificates';
import { InputLayout, dataSpaceCertificates, resolveModelInput, resolveTransform, toModelInput } from './model_input';
import { lipschitzBound, type BoundOptions, type LipschitzBound } from './bound';
import { OnnxModel, readOnnxModel } from './onnx/read';
import { DEFAULT_VERIFY_BATCH_SIZE, openSession } from './session';

export interface VerifyOptions {
  /**
   * 'fashion-mnist', 'mnist', or a data file or folder: IDX (any shape), `.npy`
   * images with `labels`, `.npz`, CIFAR-10 binary, an ImageFolder of PNG/JPEG.
   */
  data: string;
  /** Default 'test'. */
  split?: DatasetSplit;
  /** Images to use (the first n). Default: the whole split. */
  n?: number;
  /** Radii for certified robust accuracy, in the data's units. Default DEFAULT_EPSILONS. */
  eps?: readonly number[];
  /** onnxruntime intra-op threads. */
  threads?: number;
  /** 'auto' (onnxruntime-node when installed, else onnxruntime-web), 'node', 'web' or an onnxruntime module. Default: LIP_ENGINE, else 'auto'. */
  engine?: EngineChoice;
  /** Your Lipschitz constant: overrides the metadata claim; never used below the certified bound; without one, your claim. */
  lipschitz?: number;
  /** Images per onnxruntime call. Default DEFAULT_VERIFY_BATCH_SIZE. */
  batchSize?: number;
  /** Folder searched first for a named data set. */
  dataDir?: string;
  /** Labels file of an `.npy` or IDX images file. */
  labels?: string;
  /** Axis order of 4-D image arrays in the data files. Default: told from the shape. */
  layout?: ArrayLayout;
  /**
   * Multiplies the stored values before `mean`/`std`; certificates are then in
   * the stored values' units. Default: none (8-bit data read as x/255, other
   * data as stored).
   */
  scale?: number;
  /** Per-channel mean subtracted outside the graph (one value: every channel). Default 0. */
  mean?: readonly number[];
  /** Per-channel std divided by outside the graph (one value: every channel). Default 1. */
  std?: readonly number[];
  /** Shape of one image as the model reads it ([C, H, W], [H, W, C] ...), where the graph leaves its dims symbolic. */
  inputShape?: readonly number[];
  /**
   * Reuse the Lipschitz bound of a model seen before, keyed by the sha256 of
   * the model's bytes (bound/cache.ts): true for the default folder
   * (`$LIP_CACHE_DIR/bounds`, else `~/.cache/lip/bounds`), or its options.
   * Default false: the bound is computed and nothing is written.
   */
  boundCache?: boolean | BoundCacheOptions;
  /**
   * Compute the bound on a worker thread while the data are read and the
   * model runs (./background_bound.ts): the same result, warnings and errors,
   * but the bound's warnings come after inference. Default false.
   */
  boundWorker?: boolean;
  /** Called after each batch. */
  onProgress?: (done: number, total: number) => void;
  /** Called for each warning as it happens (they are also returned). */
  onWarning?: (message: string) => void;
}

export interface CertifiedAccuracyPoint {
  eps: number;
  /** Fraction of images correctly classified with certificate > eps. */
  value: number;
}

/** How the data were fed to the model, and how model-space radii map back to the data. */
export interface VerifyPreprocessing {
  /** Memory order of the fed images (channels first or last). */
  layout: InputLayout;
  /** Shape of one fed image. */
  inputShape: number[];
  /** `scale`, or null when the data were read at the reader's default. */
  scale: number | null;
  mean: number[] | null;
  std: number[] | null;
  /** Data-space radius per model-space radius: min(std) / scale (1 without preprocessing). */
  certificateFactor: number;
}

export interface VerifyResult {
  model: string;
  data: string;
  /** What the data were: a named dataset or the file format read. */
  dataFormat: VerifyData['format'];
  /** One image's height, width, channels. */
  imageShape: [number, number, number];
  split: DatasetSplit;
  n: number;
  accuracy: number;
  /** False when nothing could be certified (no certified bound and no `lipschitz`); the certificate fields are then null. */
  certified: boolean;
  /** Mean certificate over all n images (certificates are about the predicted class), in the data's units. */
  meanCertificate: number | null;
  medianCertificate: number | null;
  /** Mean certificate over correctly classified images. */
  meanCertificateCorrect: number | null;
  /** Empty when nothing is certified. */
  cra: CertifiedAccuracyPoint[];
  certificateKind: CertificateKind | null;
  /** Mean of the plain multiclass certificate with lipschitzUsed, for comparison (multiclass and head-aware only). */
  meanCertificateMulticlass: number | null;
  /** L certificates use (the model's, input to logits in the model's input space); null when none. */
  lipschitzUsed: number | null;
  /** Where lipschitzUsed comes from: the file's metadata, the certified bound, or the user (`lipschitz`). */
  lipschitzSource: LipschitzSource | null;
  /** True when lipschitzUsed is at least the certified bound; false when it is the user's claim, not a proof. */
  lipschitzProven: boolean;
  /** Metadata `lipschitz_constant`, or null. */
  lipschitzClaimed: number | null;
  /** `--lipschitz`, or null. */
  lipschitzOverride: number | null;
  /** Certified bound from the weights, or null when it could not be computed (see warnings). */
  lipschitzBound: number | null;
  /** What the bound cache did (`used`: the bound was read from it); null when `boundCache` was off or no bound was computed. */
  boundCache: BoundCacheReport | null;
  /** Body bound used by head-aware certificates. */
  headBodyLipschitz: number | null;
  preprocessing: VerifyPreprocessing;
  warnings: string[];
  /** The onnxruntime that ran the model ('custom': a module passed as `engine`). */
  engine: EngineName | 'custom';
  /** Inference throughput in onnxruntime. */
  imagesPerSecond: number;
  seconds: number;
  classNames: string[];
  /** The model's metadata_props. */
  metadata: Record<string, string>;
  /** Per-image results (not meant for JSON); certificates null when nothing is certified. */
  details: { labels: Uint8Array; predictions: Int32Array; certificates: Float64Array | null };
}

function median(values: Float64Array): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : 0.5 * (s[mid - 1] + s[mid]);
}

/** Verifies `modelPath` on a data set: accuracy, certificates, certified robust accuracy. */
export async function verifyModel(modelPath: string | Uint8Array, opts: VerifyOptions): Promise<VerifyResult> {
  const split = opts.split ?? 'test';
  if (split !== 'test' && split !== 'train') throw new InvalidArgumentError(`'split' must be 'test' or 'train', got '${String(split)}'`);
  if (opts.n !== undefined && !(Number.isInteger(opts.n) && opts.n > 0)) throw new InvalidArgumentError(`'n' must be a positive integer, got ${opts.n}`);
  const eps = [...(opts.eps ?? DEFAULT_EPSILONS)];
  if (eps.length === 0 || !eps.every((e) => Number.isFinite(e) && e >= 0)) {
    throw new InvalidArgumentError(`'eps' must be a non-empty list of finite numbers >= 0, got [${eps.join(', ')}]`);
  }
  if (opts.scale !== undefined && !(Number.isFinite(opts.scale) && opts.scale > 0)) {
    throw new InvalidArgumentError(`'scale' must be a finite number > 0, got ${opts.scale}`);
  }
  const batchSize = opts.batchSize ?? DEFAULT_VERIFY_BATCH_SIZE;
  const warn = (m: string): void => {
    opts.onWarning?.(m);
  };
  const readOptions = opts.inputShape ? { inputShape: opts.inputShape } : {};
  const cacheOptions = opts.boundCache === true ? {} : opts.boundCache || null;
  // Likely cold (no cache entry for the file): a bound thread starts now, so that its start-up overlaps loading onnxruntime and reading the model.
  // A thread the CLI prestarted (./bound_thread.ts) is adopted here, or ended when no thread is needed.
  // The file is read once: its bytes give the hint, the cache key and the model.
  const preread = cacheOptions && typeof modelPath === 'string' ? readModelFileBytes(modelPath) : null;
  const hint = cacheOptions !== null && boundCacheHasEntryFor(typeof modelPath === 'string' ? (preread ?? null) : modelPath, cacheOptions);
  const spare = opts.boundWorker && !hint ? SpareBoundThread.start() : endPrestartedBoundThread();
  let started: VerifyBound | null = null;
  try {
    // The data are read and gunzipped on the thread pool while this thread reads the model. A bad model is still reported
    // first (the data's error, if any, is held until the data are awaited below), and downloads nothing.
    // With --scale the stored values are read as they are and scaled here, with the mean and std.
    let modelRead = (): void => undefined;
    const dataRead = loadVerifyData(opts.data, {
      beforeDownload: new Promise<void>((resolve) => (modelRead = resolve)),
      split,
      limit: opts.n,
      dataDir: opts.dataDir,
      labels: opts.labels,
      layout: opts.layout,
      scale: opts.scale === undefined ? undefined : 1,
    });
    dataRead.catch(() => undefined);
    // One turn of the event loop: the data reader runs up to its gunzip, which then works while the model is read.
    await new Promise((resolve) => setImmediate(resolve));
    // With the cache, the file is read once and hashed, so the key is the hash of what is bounded.
    const { model, sha256 } = cacheOptions
      ? readOnnxModelHashed(modelPath, readOptions, preread ?? undefined)
      : { model: readOnnxModel(modelPath, readOptions), sha256: '' };
    modelRead();
    const cacheUse: { report: BoundCacheReport | null } = { report: null };
    const bound = new VerifyBound(model, sha256, cacheOptions, cacheUse, spare);
    started = bound;
    // A graph that fixes its input (or --input-shape) needs no data to be bounded: start at once.
    const early = opts.inputShape ?? fixedInputShape(model);
    if (opts.boundWorker && early) bound.start(early);
    // A named engine that is not installed fails here, before the data are used; loaded after the bound started.
    requireEngine(opts.engine);
    const data = await dataRead;
    const transform = resolveTransform({ scale: opts.scale, mean: opts.mean, std: opts.std }, data.channels);
    const input = resolveModelInput(model, data, opts.inputShape);
    if (opts.boundWorker) bound.start(input.shape);
    const choose = (): LipschitzChoice => {
      const choice = chooseLipschitz(model, { lipschitz: opts.lipschitz, inputShape: input.shape, computeBound: bound.compute });
      if (cacheUse.report?.note) choice.warnings.push(`bound cache: ${cacheUse.report.note}`);
      choice.warnings.forEach(warn);
      return choice;
    };
    // In process the bound comes first, as it always did; on a worker it is awaited after inference.
    let choice = opts.boundWorker ? null : choose();
    let run: ModelRun;
    try {
      run = await runModel(model, data, input, transform, opts, batchSize, bound);
    } catch (err) {
      // The bound's fatal errors come first, as they would in process.
      if (choice === null) {
        await bound.settled();
        choose();
      }
      throw err;
    }
    if (choice === null) {
      await bound.settled();
      choice = choose();
    }
    return verifyResult(modelPath, opts, split, eps, model, data, input, transform, choice, run, cacheUse.report);
  } finally {
    if (started) started.cancel();
    else spare?.end();
  }
}

/** Ends a thread `prestartBoundThread()` started, if any; null (no spare thread). */
function endPrestartedBoundThread(): null {
  takePrestartedBoundThread(null);
  return null;
}

/** The per-sample input shape the graph declares, when every dim after the batch is a fixed size; else null. */
function fixedInputShape(model: OnnxModel): number[] | null {
  const dims = model.inputs.length === 1 ? model.inputs[0].shape?.slice(1) : undefined;
  return dims && dims.length > 0 && dims.every((d): d is number => typeof d === 'number' && d > 0) ? dims : null;
}

/**
 * The bound `verifyModel` certifies with, for `chooseLipschitz` (`compute`):
 * from the cache when it has it, else computed in process when asked, or,
 * after `start(shape)`, on a worker thread (./background_bound.ts) started then.
 * `compute` for another shape than the started one computes in process.
 */
class VerifyBound {
  private started: { shape: number[]; hit: LipschitzBound | null; miss: BoundCacheMiss | null; job: BackgroundBound | null } | null = null;

  constructor(
    private readonly model: OnnxModel,
    private readonly sha256: string,
    private readonly cacheOptions: BoundCacheOptions | null,
    private readonly cacheUse: { report: BoundCacheReport | null },
    /** A bound thread already started, for the first worker task. */
    private spare: SpareBoundThread | null = null,
  ) {}

  /** Looks the bound for `shape` up in the cache and, on a miss, starts it on a worker; nothing when already started for `shape`. */
  start(shape: readonly number[]): void {
    if (this.started && sameDims(this.started.shape, shape)) return;
    this.started?.job?.cancel();
    const opts = { inputShape: [...shape] };
    const looked = this.cacheOptions ? lookupCachedBound(this.model, this.sha256, opts, this.cacheOptions) : null;
    if (looked && !('miss' in looked)) {
      this.started = { shape: opts.inputShape, hit: looked.bound, miss: null, job: null };
      this.cacheUse.report = looked.cache;
      this.spare?.end();
      this.spare = null;
      return;
    }
    const job = backgroundBound(this.model, opts, boundWorkerScript(), this.spare);
    this.spare = null;
    this.started = { shape: opts.inputShape, hit: null, miss: looked ? looked.miss : null, job };
  }

  /** True while the bound is still being computed on a worker thread (then onnxruntime's idle threads should sleep, not spin). */
  busy(): boolean {
    const job = this.started?.job;
    return !!job && !job.finished();
  }

  /** Resolves once a started worker has answered or stopped. */
  async settled(): Promise<void> {
    await this.started?.job?.settled;
  }

  /** Resolves once a started worker has answered or stopped, or after `ms` milliseconds, whichever comes first. */
  async settledWithin(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.settled(), timeout]);
    clearTimeout(timer);
  }

  readonly compute = (m: OnnxModel, o: BoundOptions): LipschitzBound => {
    const s = this.started;
    if (s && sameDims(s.shape, o.inputShape ?? [])) {
      if (s.hit) return s.hit;
      const b = s.job!.result();
      if (s.miss) this.cacheUse.report = storeCachedBound(s.miss, b);
      return b;
    }
    if (!this.cacheOptions) return lipschitzBound(m, o);
    const cached = cachedLipschitzBound(m, this.sha256, o, this.cacheOptions);
    this.cacheUse.report = cached.cache;
    return cached.bound;
  };

  /** Stops a worker whose answer is no longer needed, and a bound thread that got no task. */
  cancel(): void {
    this.started?.job?.cancel();
    this.spare?.end();
    this.spare = null;
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * How long the model run waits for a bound still running on its worker thread,
 * per image: the time sleeping onnxruntime threads would cost the run (about
 * 6 ms per 1,000 images of the shipped model), rounded down.
 */
const SPIN_WAIT_MS_PER_IMAGE = 0.005;

interface ModelRun {
  fed: ReturnType<typeof toModelInput>;
  logits: Float32Array;
  classes: number;
  seconds: number;
  engine: EngineName | 'custom';
}

/** Runs the model on the data, as fed; refuses labels the model's outputs cannot hold. */
async function runModel(
  model: OnnxModel,
  data: VerifyData,
  input: ReturnType<typeof resolveModelInput>,
  transform: ReturnType<typeof resolveTransform>,
  opts: VerifyOptions,
  batchSize: number,
  bound: VerifyBound,
): Promise<ModelRun> {
  const fed = toModelInput(data.images, data.n, data, input, transform);
  // While the bound runs on a worker thread, idle onnxruntime threads sleep rather than spin: that thread needs the core.
  // Once it has finished they spin, as by default: sleeping threads make the run about a quarter slower (10,000
  // Fashion-MNIST images: 290 ms against 230 ms), so a bound about to finish is worth a short wait.
  if (bound.busy()) await bound.settledWithin(SPIN_WAIT_MS_PER_IMAGE * data.n);
  const session = await openSession(model, { threads: opts.threads, engine: opts.engine, spinWait: bound.busy() ? false : undefined });
  let logits: Float32Array;
  const t0 = process.hrtime.bigint();
  try {
    // Values fed as read (identity transform: the same values, at most reordered to channels first) keep the range the reader
    // knows them to lie in: no second per-value check.
    const known = transform.identity && data.valueRange ? { valueRange: data.valueRange } : {};
    logits = await session.runBatched(fed.images, data.n, input.shape, batchSize, opts.onProgress, known);
  } finally {
    await session.close();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const classes = data.n > 0 ? logits.length / data.n : (session.outputSize ?? 0);
  let maxLabel = 0;
  for (const l of data.labels) maxLabel = Math.max(maxLabel, l);
  if ((classes !== 1 && maxLabel >= classes) || (classes === 1 && maxLabel > 1)) {
    throw new DataError(
      `the model has ${classes} output${classes === 1 ? '' : 's'} but the data has labels up to ${maxLabel}; ` + 'use the data set the model was trained on.',
    );
  }
  return { fed, logits, classes, seconds, engine: session.engine };
}

/** Accuracy, certificates and certified accuracy from the model's logits under `choice`. */
function verifyResult(
  modelPath: string | Uint8Array,
  opts: VerifyOptions,
  split: DatasetSplit,
  eps: number[],
  model: OnnxModel,
  data: VerifyData,
  input: ReturnType<typeof resolveModelInput>,
  transform: ReturnType<typeof resolveTransform>,
  choice: LipschitzChoice,
  run: ModelRun,
  cacheReport: BoundCacheReport | null,
): VerifyResult {
  const { fed, logits, classes, seconds } = run;
  const modelSpace = certifyLogits(choice, logits, classes);
  const predictions = modelSpace?.predictions ?? predictClasses(logits, classes);
  const certificates = modelSpace ? dataSpaceCertificates(modelSpace.certificates, fed.delta, transform) : null;
  const correct = new Uint8Array(data.n);
  let nCorrect = 0;
  for (let i = 0; i < data.n; i++) {
    correct[i] = predictions[i] === data.labels[i] ? 1 : 0;
    nCorrect += correct[i];
  }
  let sum = 0;
  let sumCorrect = 0;
  if (certificates) {
    for (let i = 0; i < data.n; i++) {
      sum += certificates[i];
      if (correct[i]) sumCorrect += certificates[i];
    }
  }
  const standardMean =
    !modelSpace || modelSpace.kind === 'binary'
      ? null
      : dataSpaceCertificates(modelSpace.multiclass ?? multiclassCertificates(logits, classes, choice.used!), fed.delta, transform).reduce((a, c) => a + c, 0) /
        Math.max(1, data.n);

  const meta = model.metadata.class_names;
  let classNames = data.classNames;
  if (meta) {
    try {
      const parsed = JSON.parse(meta) as unknown;
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) classNames = parsed as string[];
    } catch {
      // Malformed class names only affect labels in reports.
    }
  }

  return {
    model: typeof modelPath === 'string' ? modelPath : '<bytes>',
    data: opts.data,
    dataFormat: data.format,
    imageShape: [data.height, data.width, data.channels],
    split,
    n: data.n,
    accuracy: data.n > 0 ? nCorrect / data.n : NaN,
    certified: certificates !== null,
    meanCertificate: certificates ? (data.n > 0 ? sum / data.n : NaN) : null,
    medianCertificate: certificates ? median(certificates) : null,
    meanCertificateCorrect: certificates ? (nCorrect > 0 ? sumCorrect / nCorrect : NaN) : null,
    cra: certificates ? certifiedRobustAccuracy(correct, certificates, eps).map((value, i) => ({ eps: eps[i], value })) : [],
    certificateKind: modelSpace?.kind ?? null,
    meanCertificateMulticlass: standardMean,
    lipschitzUsed: choice.used,
    lipschitzSource: choice.source,
    lipschitzProven: choice.proven,
    lipschitzClaimed: choice.claimed,
    lipschitzOverride: choice.override,
    lipschitzBound: choice.bound ? choice.bound.total : null,
    boundCache: cacheReport,
    headBodyLipschitz: modelSpace?.kind === 'head-aware' && choice.head ? choice.head.bodyLipschitz : null,
    preprocessing: {
      layout: input.layout,
      inputShape: input.shape,
      scale: opts.scale ?? null,
      mean: opts.mean ? transform.mean : null,
      std: opts.std ? transform.std : null,
      certificateFactor: transform.certificateFactor,
    },
    warnings: choice.warnings,
    engine: run.engine,
    imagesPerSecond: seconds > 0 ? data.n / seconds : Infinity,
    seconds,
    classNames,
    metadata: { ...model.metadata },
    details: { labels: data.labels, predictions, certificates },
  };
}

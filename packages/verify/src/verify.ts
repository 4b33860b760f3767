/**
 * `verifyModel`: accuracy, certificates and certified robust accuracy of an
 * ONNX model on a data set, with the Lipschitz constant checked against a
 * bound computed from the weights.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  DATASET_NAMES, DEFAULT_EPSILONS, DataError, Dataset, DatasetName, DatasetSplit, InvalidArgumentError, ModelError,
  ModelTooLargeError,
} from '@lip/train';
import { loadDataset, loadDatasetFromDir } from '@lip/train/node';
import { LipschitzBound, lipschitzBound } from './bound';
import { CertificateKind, certify, multiclassCertificates } from './certificates';
import { OnnxModel, readOnnxModel } from './onnx/read';
import { DEFAULT_BATCH_SIZE, openSession } from './session';

export interface VerifyOptions {
  /** 'fashion-mnist', 'mnist', or a folder of MNIST-style IDX files. */
  data: string;
  /** Default 'test'. */
  split?: DatasetSplit;
  /** Images to use (the first n). Default: the whole split. */
  n?: number;
  /** Radii for certified robust accuracy. Default DEFAULT_EPSILONS. */
  eps?: readonly number[];
  /** onnxruntime intra-op threads. */
  threads?: number;
  /** Overrides the metadata `lipschitz_constant`. */
  lipschitz?: number;
  /** Images per onnxruntime call. Default DEFAULT_BATCH_SIZE. */
  batchSize?: number;
  /** Folder searched first for a named data set. */
  dataDir?: string;
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

export interface VerifyResult {
  model: string;
  data: string;
  split: DatasetSplit;
  n: number;
  accuracy: number;
  /** Mean certificate over all n images (certificates are about the predicted class). */
  meanCertificate: number;
  medianCertificate: number;
  /** Mean certificate over correctly classified images. */
  meanCertificateCorrect: number;
  cra: CertifiedAccuracyPoint[];
  certificateKind: CertificateKind;
  /** Mean of the plain multiclass certificate with lipschitzUsed, for comparison (multiclass and head-aware only). */
  meanCertificateMulticlass: number | null;
  lipschitzUsed: number;
  /** Where lipschitzUsed comes from. */
  lipschitzSource: 'metadata' | 'override' | 'bound';
  /** Metadata `lipschitz_constant`, or null. */
  lipschitzClaimed: number | null;
  /** `--lipschitz`, or null. */
  lipschitzOverride: number | null;
  /** Certified bound from the weights, or null when it could not be computed (see warnings). */
  lipschitzBound: number | null;
  /** Body bound used by head-aware certificates. */
  headBodyLipschitz: number | null;
  warnings: string[];
  /** Inference throughput in onnxruntime. */
  imagesPerSecond: number;
  seconds: number;
  classNames: string[];
  /** The model's metadata_props. */
  metadata: Record<string, string>;
  /** Per-image results (not meant for JSON). */
  details: { labels: Uint8Array; predictions: Int32Array; certificates: Float64Array };
}

/** Loads the images named by `data` (a known data set or a folder). */
export async function loadVerifyData(data: string, split: DatasetSplit, limit: number | undefined, dataDir?: string): Promise<Dataset> {
  if ((DATASET_NAMES as readonly string[]).includes(data)) return loadDataset(data as DatasetName, split, { limit, dataDir });
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(data);
  } catch {
    st = undefined;
  }
  if (!st || !st.isDirectory()) {
    throw new InvalidArgumentError(`'data' must be ${DATASET_NAMES.join(', ')} or a folder of IDX files, got '${data}'`);
  }
  const name: DatasetName = /fashion/i.test(path.resolve(data)) ? 'fashion-mnist' : 'mnist';
  // The user named this folder: nothing will re-download into it.
  return loadDatasetFromDir(data, name, split, { limit, fix: 'replace it with an intact copy of the file' });
}

/** Parses the metadata `lipschitz_constant`; null when absent. */
export function claimedLipschitz(model: OnnxModel): number | null {
  const raw = model.metadata.lipschitz_constant;
  if (raw === undefined) return null;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0) {
    throw new ModelError(`'${model.source}': metadata lipschitz_constant must be a number > 0, got ${JSON.stringify(raw)}; re-export the model.`);
  }
  return v;
}

/**
 * Parses the metadata `head_body_lipschitz` (the L_body of the graph up to its
 * final linear layer, as the exporter built it); null when absent.
 */
export function claimedHeadBodyLipschitz(model: OnnxModel): number | null {
  const raw = model.metadata.head_body_lipschitz;
  if (raw === undefined) return null;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0) {
    throw new ModelError(`'${model.source}': metadata head_body_lipschitz must be a number > 0, got ${JSON.stringify(raw)}; re-export the model.`);
  }
  return v;
}

export interface LipschitzChoice {
  used: number;
  source: 'metadata' | 'override' | 'bound';
  claimed: number | null;
  bound: LipschitzBound | null;
  warnings: string[];
}

/**
 * The Lipschitz constant to certify with: the override, else the metadata
 * claim, but never below the certified bound (a smaller claim is reported
 * and replaced by the bound).
 */
export function chooseLipschitz(model: OnnxModel, override?: number): LipschitzChoice {
  const warnings: string[] = [];
  if (override !== undefined && !(Number.isFinite(override) && override > 0)) {
    throw new InvalidArgumentError(`'lipschitz' must be a finite number > 0, got ${override}`);
  }
  const claimed = claimedLipschitz(model);
  let bound: LipschitzBound | null = null;
  try {
    bound = lipschitzBound(model);
    for (const w of bound.warnings) warnings.push(`bound: ${w}`);
  } catch (err) {
    // A model too large to analyse is also too large to run: that is fatal, not a warning.
    if (!(err instanceof ModelError) || err instanceof ModelTooLargeError) throw err;
    warnings.push(`the Lipschitz bound could not be computed from the weights (${err.message}); certificates rely on the ` +
      `${override !== undefined ? '--lipschitz value' : 'metadata lipschitz_constant'} alone`);
  }
  const base = override ?? claimed ?? undefined;
  const source: 'metadata' | 'override' = override !== undefined ? 'override' : 'metadata';
  if (base === undefined) {
    if (!bound) {
      throw new ModelError(`'${model.source}' has no lipschitz_constant metadata and its bound cannot be computed; pass --lipschitz L.`);
    }
    warnings.push(`'${model.source}' declares no lipschitz_constant; certifying with the bound ${bound.total.toPrecision(6)}`);
    return { used: bound.total, source: 'bound', claimed, bound, warnings };
  }
  if (bound && base < bound.total) {
    warnings.push(`WARNING: the ${source === 'override' ? '--lipschitz value' : 'model claims'} L = ${base} but the weights ` +
      `give a certified bound of ${bound.total.toPrecision(8)} (x${(bound.total / base).toFixed(3)}): the claim is NOT ` +
      `guaranteed; certifying with the bound instead`);
    return { used: bound.total, source: 'bound', claimed, bound, warnings };
  }
  return { used: base, source, claimed, bound, warnings };
}

function median(values: Float64Array): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : 0.5 * (s[mid - 1] + s[mid]);
}

/** Fraction of images correctly classified with certificate > eps. */
export function certifiedRobustAccuracy(correct: ArrayLike<boolean | number>, certificates: ArrayLike<number>, eps: number): number {
  let count = 0;
  for (let i = 0; i < certificates.length; i++) if (correct[i] && certificates[i] > eps) count++;
  return certificates.length === 0 ? NaN : count / certificates.length;
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
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const warn = (m: string): void => { opts.onWarning?.(m); };

  const model = readOnnxModel(modelPath);
  const choice = chooseLipschitz(model, opts.lipschitz);
  choice.warnings.forEach(warn);

  const data = await loadVerifyData(opts.data, split, opts.n, opts.dataDir);
  const session = await openSession(model, { threads: opts.threads });
  let logits: Float32Array;
  const t0 = process.hrtime.bigint();
  try {
    logits = await session.runBatched(data.images, data.n, [data.channels, data.height, data.width], batchSize, opts.onProgress);
  } finally {
    await session.close();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const classes = data.n > 0 ? logits.length / data.n : session.outputSize ?? 0;
  let maxLabel = 0;
  for (const l of data.labels) maxLabel = Math.max(maxLabel, l);
  if (classes !== 1 && maxLabel >= classes || classes === 1 && maxLabel > 1) {
    throw new DataError(`the model has ${classes} output${classes === 1 ? '' : 's'} but the data has labels up to ${maxLabel}; ` +
      'use the data set the model was trained on.');
  }

  const boundHead = choice.bound?.head && choice.bound.head.classes === classes ? choice.bound.head : null;
  // Like L, L_body is the certified bound but never below the claim: a claim at least the bound is
  // used as is, so @lip/runtime, which certifies from the metadata, gives the same radii.
  const bodyClaim = claimedHeadBodyLipschitz(model);
  const head = boundHead && bodyClaim !== null && bodyClaim > boundHead.bodyLipschitz ? { ...boundHead, bodyLipschitz: bodyClaim } : boundHead;
  const { predictions, certificates, kind } = certify(logits, classes, { lipschitz: choice.used, head });
  const correct = Array.from(data.labels, (l, i) => predictions[i] === l);
  const nCorrect = correct.filter(Boolean).length;
  let sum = 0;
  let sumCorrect = 0;
  for (let i = 0; i < data.n; i++) {
    sum += certificates[i];
    if (correct[i]) sumCorrect += certificates[i];
  }
  const standardMean = kind === 'binary' ? null
    : multiclassCertificates(logits, classes, choice.used).reduce((a, c) => a + c, 0) / Math.max(1, data.n);

  const meta = model.metadata.class_names;
  let classNames = data.classNames;
  if (meta) {
    try {
      const parsed = JSON.parse(meta) as unknown;
      if (Array.isArray(parsed) && parsed.every((s) => typeof s === 'string')) classNames = parsed as string[];
    } catch {
      // Malformed class names only affect labels in reports.
    }
  }

  return {
    model: typeof modelPath === 'string' ? modelPath : '<bytes>',
    data: opts.data,
    split,
    n: data.n,
    accuracy: data.n > 0 ? nCorrect / data.n : NaN,
    meanCertificate: data.n > 0 ? sum / data.n : NaN,
    medianCertificate: median(certificates),
    meanCertificateCorrect: nCorrect > 0 ? sumCorrect / nCorrect : NaN,
    cra: eps.map((e) => ({ eps: e, value: certifiedRobustAccuracy(correct, certificates, e) })),
    certificateKind: kind,
    meanCertificateMulticlass: standardMean,
    lipschitzUsed: choice.used,
    lipschitzSource: choice.source,
    lipschitzClaimed: choice.claimed,
    lipschitzOverride: opts.lipschitz ?? null,
    lipschitzBound: choice.bound ? choice.bound.total : null,
    headBodyLipschitz: head ? head.bodyLipschitz : null,
    warnings: choice.warnings,
    imagesPerSecond: seconds > 0 ? data.n / seconds : Infinity,
    seconds,
    classNames,
    metadata: { ...model.metadata },
    details: { labels: data.labels, predictions, certificates },
  };
}

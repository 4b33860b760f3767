import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_EPSILONS, InvalidArgumentError, ModelError } from '@lip/core';
import { MAX_WORKERS, wasmKernelsInstalled } from '@lip/train';
import { OnnxModel } from '../onnx/read';
import { certify } from '../certificates';
import { LipschitzChoice, LipschitzSource, certificateFormula, certifyLogits, chooseLipschitz, claimedLipschitz } from '../model_certificates';
import { LipSession, modelInputRange } from '../session';
import { TRANSLATION_TOLERANCE, TranslatedModel, assertTranslationMatches, translateOnnx } from '../translate/translate';
import { AttackOutput, AttackProgress, LogitsFn, Nchw, argmaxRows, bestOtherClass, clipInPlace, rowDistance } from './common';
import { hopSkipJumpL2 } from './hsja';
import { AttackPool } from './parallel';
import { ShardSpec, attackShard } from './shard';

export type AttackName = 'cw' | 'pgd' | 'deepfool' | 'fmn' | 'hsja';
export const ATTACK_NAMES: readonly AttackName[] = ['cw', 'pgd', 'deepfool', 'fmn', 'hsja'];

/** A distance below the certificate by more than this is a violation. */
export const VIOLATION_TOLERANCE = 1e-5;

/** PGD's L2 radius when none is given: 36/255, the first radius `lip verify` certifies. */
export const DEFAULT_PGD_EPS = DEFAULT_EPSILONS[0];

/** Certificates of `n` images from their logits (`[n, k]` row-major), and the name of the formula used. */
export type CertificateFn = (logits: Float32Array, n: number, k: number) => { values: ArrayLike<number>; kind: string };

export interface AttackRunOptions {
  attack: AttackName;
  /** Optimization steps (cw: per binary-search step; pgd, deepfool, fmn, hsja: iterations). Attack default when omitted. */
  steps?: number;
  /** cw: binary-search steps over c. */
  binarySearchSteps?: number;
  /** pgd: radius of the L2 ball. Default DEFAULT_PGD_EPS (36/255). */
  eps?: number;
  /** hsja: model queries allowed per image. */
  maxQueries?: number;
  /** Images per attack batch (cw: the batch shares foolbox's abort-early loss). Default 100. */
  batchSize?: number;
  /**
   * Threads for the gradient attacks (cw, pgd, deepfool, fmn): each batch is split
   * over up to this many worker_threads, each with its own tfjs backend (the
   * current one: wasm or cpu; other backends use 1). The results are those of 1
   * thread (see attacks/parallel.ts). hsja runs in onnxruntime and ignores it.
   * 1 to MAX_WORKERS (64); default 1 (this thread).
   */
  workers?: number;
  seed?: number;
  /**
   * The user's Lipschitz constant (`--lipschitz`), taken as `lip verify` takes
   * it (`chooseLipschitz`): never below the certified bound; where the graph
   * has none, the user's claim.
   */
  lipschitz?: number;
  /** Per-sample input shape for the bound, where the graph leaves its dims symbolic. */
  inputShape?: number[];
  /**
   * Certificates to check. Default: those `lip verify` prints (`chooseLipschitz`
   * then `certifyLogits`: head-aware where the graph ends in a linear layer).
   */
  certificate?: CertificateFn;
  /** Called with each warning of the choice of L (a claim below the bound, no bound, ...), before the attack runs; also returned. */
  onWarning?: (message: string) => void;
  /** Allowed translation error against onnxruntime. Default 1e-5. */
  translationTolerance?: number;
  /** Progress within the current batch; `batch` counts from 1. */
  onProgress?: (p: AttackProgress & { batch: number; batches: number }) => void;
}

/**
 * What the attack found for one image: `misclassified` when the model was
 * already wrong on the original (never counted as fooled, whatever the attack
 * then did), else `adversarial` when an adversarial was found, `none` when not.
 */
export type AttackOutcome = 'misclassified' | 'adversarial' | 'none';

/** One attacked image. */
export interface AttackImageResult {
  /** Index of the image in the data set. */
  index: number;
  label: number;
  /** Class predicted by onnxruntime on the original. */
  pred: number;
  /** Class predicted by onnxruntime on the adversarial (equals pred when none was found). */
  advPred: number;
  certificate: number;
  /** L2 distance of the adversarial found, null when none was found. */
  distance: number | null;
  /** A found adversarial closer than the certificate (minus 1e-5): the guarantee is broken. */
  violated: boolean;
  /**
   * An adversarial that changes the onnxruntime prediction was found. Also
   * checked on misclassified images, since the certificate protects the
   * prediction, not the label.
   */
  found: boolean;
  /** Already misclassified, adversarial found, or none found (see AttackOutcome). */
  outcome: AttackOutcome;
  /**
   * Where no adversarial was found: the point the attack got closest to the
   * decision boundary (its L2 distance, and the onnxruntime margin
   * `z_pred - max_{j != pred} z_j` left there), so a weak attack (stopped near
   * the input, or near the boundary) can be told from a robust image. Null when
   * an adversarial was found or the attack returned the input itself.
   */
  closest: { distance: number; margin: number } | null;
}

export interface AttackRunResult {
  attack: AttackName;
  model: string;
  /** L of the certificates (NaN when a caller's `certificate` was given without `lipschitz` and the file claims none). */
  lipschitz: number;
  /** Where `lipschitz` comes from, as in `lip verify`; 'caller' for a caller's `certificate`. */
  lipschitzSource: LipschitzSource | 'caller';
  /** False when `lipschitz` is the user's claim, not a proof (no certified bound); null for a caller's `certificate`. */
  lipschitzProven: boolean | null;
  /** What the choice of L reported (a claim below the bound, no bound, ...). */
  warnings: string[];
  certificateKind: string;
  params: Record<string, number | boolean | null>;
  /** Largest |translation - onnxruntime| on the check sample; null for hsja (onnxruntime only). */
  translationMaxDiff: number | null;
  results: AttackImageResult[];
  /** Images the model already got wrong (`outcome` 'misclassified'). */
  misclassified: number;
  /** Correctly classified images for which an adversarial was found (`outcome` 'adversarial'). */
  found: number;
  /** Correctly classified images for which none was found (`outcome` 'none'); misclassified + found + notFound = n. */
  notFound: number;
  violations: number;
  seconds: number;
  /** Threads the attack ran in (1: this thread; see `AttackRunOptions.workers`). */
  workers: number;
  /** Forward + backward passes run on the translation, summed over batches (cw only; null otherwise). */
  gradientSteps: number | null;
  /** Adversarials (the original where none was found), `[n, ...chw]`; not part of the JSON. */
  adversarials: Float32Array;
}

/**
 * The certificates `lip verify` prints for `choice` (`certifyLogits`), or a
 * ModelError when it certifies nothing: then there is nothing to attack.
 */
export function chosenCertificate(model: OnnxModel, choice: LipschitzChoice): CertificateFn {
  if (choice.used === null) {
    throw new ModelError(
      `'${model.source}' has no certified Lipschitz bound (${choice.boundError}), so it has no certificate to attack; ` +
        'pass --lipschitz L to attack certificates made with your own claim L',
    );
  }
  return (logits, _n, k) => {
    const c = certifyLogits(choice, logits, k)!;
    return { values: c.certificates, kind: certificateFormula(c.kind) };
  };
}

/**
 * Multiclass certificate (top1 - top2) / (sqrt(2) L) (Tsuzuku et al. 2018), from
 * `certify` (certificates.ts, which also allows for float32 rounding of the logits).
 */
export function multiclassCertificate(lipschitz: number): CertificateFn {
  return (logits, _n, k) => ({
    values: certify(logits, k, { lipschitz }).certificates,
    kind: 'multiclass: (top1 - top2) / (sqrt(2) * L)',
  });
}

/**
 * Attacks `n` images (`[n, ...chw]`, row-major) of a deployed model and checks
 * the result against the certificates:
 * 1. onnxruntime predicts and certifies the originals;
 * 2. gradient attacks run on the tfjs translation, which must first match
 *    onnxruntime within `translationTolerance` (hsja runs on onnxruntime only);
 * 3. every adversarial is clipped to the input range and re-run in onnxruntime:
 *    it counts as found only if it changes the predicted class, and it violates
 *    the certificate when its L2 distance is below the certificate minus 1e-5.
 * Attacks move away from the predicted class, which is what a certificate protects.
 * Gradient attacks run on the current tfjs backend; with none chosen, on the
 * one `tf.ready()` starts (the highest-priority registered: wasm, or tensorflow
 * when tfjs-node is loaded).
 */
export async function runAttack(
  model: OnnxModel,
  session: LipSession,
  images: Float32Array,
  labels: ArrayLike<number>,
  indices: readonly number[],
  chw: readonly [number, number, number],
  opts: AttackRunOptions,
): Promise<AttackRunResult> {
  const started = Date.now();
  if (!ATTACK_NAMES.includes(opts.attack)) {
    throw new InvalidArgumentError(`'attack' must be one of ${ATTACK_NAMES.join(', ')}, got '${String(opts.attack)}'`);
  }
  const n = labels.length;
  const d = chw[0] * chw[1] * chw[2];
  if (images.length !== n * d) throw new InvalidArgumentError(`'images' holds ${images.length} values, ${n} images of [${chw.join(', ')}] need ${n * d}`);
  if (indices.length !== n) throw new InvalidArgumentError(`'indices' has ${indices.length} entries for ${n} images`);
  const batchSize = opts.batchSize ?? 100;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new InvalidArgumentError(`'batchSize' must be an integer >= 1, got ${batchSize}`);
  const eps = opts.attack === 'pgd' ? (opts.eps ?? DEFAULT_PGD_EPS) : opts.eps;
  if (eps !== undefined && !(Number.isFinite(eps) && eps > 0)) {
    throw new InvalidArgumentError(`'eps' (the L2 radius of pgd) must be a finite number > 0, got ${String(eps)}`);
  }
  const workersWanted = opts.workers ?? 1;
  if (!(Number.isInteger(workersWanted) && workersWanted >= 1 && workersWanted <= MAX_WORKERS)) {
    throw new InvalidArgumentError(`'workers' must be an integer in [1, ${MAX_WORKERS}], got ${workersWanted}`);
  }
  const bounds = modelInputRange(model) ?? [0, 1];
  // The certificates lip verify prints, unless the caller brings its own.
  const choice = opts.certificate ? null : chooseLipschitz(model, { lipschitz: opts.lipschitz, inputShape: opts.inputShape });
  choice?.warnings.forEach((w) => opts.onWarning?.(w));
  const certificate = opts.certificate ?? chosenCertificate(model, choice!);
  const lipschitz = choice ? choice.used! : (opts.lipschitz ?? claimedLipschitz(model) ?? NaN);

  const logits = await session.runBatched(images, n, chw);
  const k = logits.length / Math.max(n, 1);
  if (n > 0 && k < 2) throw new ModelError(`'${model.source}' has ${k} output; the attacks need a multiclass model (at least 2 logits).`);
  const preds = argmaxRows(logits, n, k);
  const cert = certificate(logits, n, k);

  let translated: TranslatedModel | null = null;
  let pool: AttackPool | null = null;
  let workers = 1;
  let translationMaxDiff: number | null = null;
  const adversarials = new Float32Array(images.length);
  const attackFound = new Array<boolean>(n).fill(false);
  let gradientSteps: number | null = null;
  try {
    if (opts.attack !== 'hsja' && n > 0) {
      // The translation runs on the caller's tfjs backend; when none was chosen, tfjs starts its highest-priority
      // one (wasm, as `lip attack`), which initializes asynchronously: creating a tensor before that throws.
      await tf.ready();
      translated = translateOnnx(model);
      const m = Math.min(n, 16);
      translationMaxDiff = await assertTranslationMatches(
        model,
        session,
        { images: images.subarray(0, m * d), n: m, chw },
        opts.translationTolerance ?? TRANSLATION_TOLERANCE,
        translated,
      );
    }
    // Gradient attacks only; their workers run the current tfjs backend (the tensorflow binding stays in this thread).
    const backend = opts.attack === 'hsja' ? null : tf.getBackend();
    workers = backend === 'wasm' || backend === 'cpu' ? Math.max(1, Math.min(workersWanted, batchSize, n)) : 1;
    if (workers > 1) {
      pool = await AttackPool.start({
        workers,
        modelBytes: model.bytes,
        source: model.source,
        backend: backend as 'wasm' | 'cpu',
        wasmKernels: backend === 'wasm' && wasmKernelsInstalled(),
        maxBatch: Math.min(batchSize, n),
      });
    }
    const batches = Math.ceil(n / batchSize);
    for (let bIdx = 0; bIdx < batches; bIdx++) {
      const start = bIdx * batchSize;
      const m = Math.min(batchSize, n - start);
      const x = images.slice(start * d, (start + m) * d);
      const y = preds.slice(start, start + m);
      const onProgress = (p: AttackProgress): void => opts.onProgress?.({ ...p, batch: bIdx + 1, batches });
      const out = await attackBatch({ ...opts, eps }, translated, pool, session, x, [m, chw[0], chw[1], chw[2]], y, bounds, onProgress);
      adversarials.set(clipInPlace(out.adv, bounds[0], bounds[1]), start * d);
      out.found.forEach((f, i) => {
        attackFound[start + i] = f;
      });
      if (out.gradientSteps !== undefined) gradientSteps = (gradientSteps ?? 0) + out.gradientSteps;
    }
  } finally {
    translated?.dispose();
    await pool?.dispose();
  }

  const advLogits = await session.runBatched(adversarials, n, chw);
  const advPreds = argmaxRows(advLogits, n, k);
  const results: AttackImageResult[] = [];
  for (let i = 0; i < n; i++) {
    const found = attackFound[i] && advPreds[i] !== preds[i];
    const distance = found ? rowDistance(adversarials, images, i, d) : null;
    const reached = found ? 0 : rowDistance(adversarials, images, i, d);
    const closest =
      reached > 0 ? { distance: reached, margin: advLogits[i * k + preds[i]] - advLogits[i * k + bestOtherClass(advLogits, i, k, preds[i])] } : null;
    if (!found) adversarials.set(images.subarray(i * d, (i + 1) * d), i * d);
    const certificate = Number(cert.values[i]);
    const label = Number(labels[i]);
    results.push({
      index: indices[i],
      label,
      pred: preds[i],
      advPred: found ? advPreds[i] : preds[i],
      certificate,
      distance,
      violated: distance !== null && distance < certificate - VIOLATION_TOLERANCE,
      found,
      outcome: preds[i] !== label ? 'misclassified' : found ? 'adversarial' : 'none',
      closest,
    });
  }
  const count = (outcome: AttackOutcome): number => results.filter((r) => r.outcome === outcome).length;
  return {
    attack: opts.attack,
    model: model.source,
    lipschitz,
    lipschitzSource: choice ? choice.source! : 'caller',
    lipschitzProven: choice ? choice.proven : null,
    warnings: choice ? choice.warnings : [],
    certificateKind: cert.kind,
    params: attackParams({ ...opts, eps }, batchSize),
    translationMaxDiff,
    results,
    misclassified: count('misclassified'),
    found: count('adversarial'),
    notFound: count('none'),
    violations: results.filter((r) => r.violated).length,
    seconds: (Date.now() - started) / 1000,
    workers,
    gradientSteps,
    adversarials,
  };
}

function attackParams(opts: AttackRunOptions, batchSize: number): Record<string, number | boolean | null> {
  const p: Record<string, number | boolean | null> = { batchSize, steps: opts.steps ?? null };
  if (opts.attack === 'cw') p.binarySearchSteps = opts.binarySearchSteps ?? null;
  if (opts.attack === 'pgd') p.eps = opts.eps ?? null;
  if (opts.attack === 'hsja') p.maxQueries = opts.maxQueries ?? null;
  if (opts.seed !== undefined) p.seed = opts.seed;
  return p;
}

async function attackBatch(
  opts: AttackRunOptions,
  f: LogitsFn | null,
  pool: AttackPool | null,
  session: LipSession,
  x: Float32Array,
  shape: Nchw,
  labels: number[],
  bounds: readonly [number, number],
  onProgress: (p: AttackProgress) => void,
): Promise<AttackOutput> {
  if (opts.attack === 'hsja') {
    const chw = shape.slice(1);
    const predict = async (batch: Float32Array, m: number): Promise<number[]> => {
      const z = await session.runBatched(batch, m, chw, Math.max(m, 1));
      return argmaxRows(z, m, z.length / Math.max(m, 1));
    };
    return hopSkipJumpL2(predict, x, shape[0], shape[1] * shape[2] * shape[3], labels, {
      bounds,
      onProgress,
      steps: opts.steps,
      maxQueries: opts.maxQueries,
      seed: opts.seed,
    });
  }
  const spec: ShardSpec = {
    attack: opts.attack,
    steps: opts.steps,
    binarySearchSteps: opts.binarySearchSteps,
    eps: opts.eps,
    seed: opts.seed,
    bounds,
  };
  if (pool && shape[0] > 1) return pool.run(spec, x, shape, labels, onProgress);
  return attackShard(f!, spec, x, shape, labels, { onProgress });
}

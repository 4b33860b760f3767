/**
 * Losses by name, for the trainer and the CLI: one table of factories.
 * Each created loss picks the binary formula when `yPred` has one output
 * (`[B, 1]` or `[B]`) and the multiclass one otherwise.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_HKR_ALPHA, DEFAULT_MIN_MARGIN } from '../constants';
import { assertArg } from '../errors';
import { hingeMarginBinary, hkrBinary, krBinary } from './binary';
import { hingeMulticlass, hkrMulticlass, krMulticlass } from './multiclass';
import { tauCategoricalCrossentropy } from './tau_cce';
import { BatchStatistics, hingeMulticlassShare, hkrMulticlassShare, krMulticlassShare, tauCategoricalCrossentropyShare } from './shares';
import { assertNonNegative, assertPositive } from './validate';

/** Names accepted by `makeLoss`. */
export type LossName = 'hkr' | 'kr' | 'hinge' | 'tau_cce';

/** Options of the named losses; each loss reads the ones it needs. */
export interface LossOptions {
  /** HKR weight of the hinge term. Default `DEFAULT_HKR_ALPHA`. */
  alpha?: number;
  /** Hinge margin. Default `DEFAULT_MIN_MARGIN`. */
  minMargin?: number;
  /** Temperature of `tau_cce`. Required for it (no default). */
  tau?: number;
}

/** A loss in the tfjs convention: a scalar to minimize. */
export type LossFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

/**
 * The loss of one shard of a batch as its exact share of the full-batch
 * loss (losses/shares.ts): shares of the shards add up to the loss of the
 * batch that `stats` describe. Multiclass only.
 */
export type ShareLossFunction = (yTrue: tf.Tensor, yPred: tf.Tensor, stats: BatchStatistics) => tf.Scalar;

/** One row of the loss table. */
export interface LossFactory {
  readonly name: LossName;
  /** One line for `--help` and error messages. */
  readonly description: string;
  /** Validates `opts` and returns the loss. */
  create(opts?: LossOptions): LossFunction;
  /** Validates `opts` and returns the shard form of the loss. */
  createShare(opts?: LossOptions): ShareLossFunction;
}

function multiclassOnly(yPred: tf.Tensor, name: LossName): void {
  assertArg(!isBinary(yPred), () => `loss '${name}': the shard form (data-parallel training) is multiclass only`);
}

function isBinary(yPred: tf.Tensor): boolean {
  return yPred.rank === 1 || (yPred.rank === 2 && yPred.shape[1] === 1);
}

function margin(opts: LossOptions, where: string): number {
  const m = opts.minMargin ?? DEFAULT_MIN_MARGIN;
  assertPositive(m, 'minMargin', where);
  return m;
}

/** The loss table. */
export const LOSS_FACTORIES: readonly LossFactory[] = [
  {
    name: 'hkr',
    description: 'alpha * hinge(minMargin) - KR (Serrurier et al. 2021)',
    create(opts = {}) {
      const alpha = opts.alpha ?? DEFAULT_HKR_ALPHA;
      assertNonNegative(alpha, 'alpha', "loss 'hkr'");
      const m = margin(opts, "loss 'hkr'");
      return (yTrue, yPred) => (isBinary(yPred) ? hkrBinary(yTrue, yPred, alpha, m) : hkrMulticlass(yTrue, yPred, alpha, m));
    },
    createShare(opts = {}) {
      const alpha = opts.alpha ?? DEFAULT_HKR_ALPHA;
      assertNonNegative(alpha, 'alpha', "loss 'hkr'");
      const m = margin(opts, "loss 'hkr'");
      return (yTrue, yPred, stats) => {
        multiclassOnly(yPred, 'hkr');
        return hkrMulticlassShare(yTrue, yPred, stats, alpha, m);
      };
    },
  },
  {
    name: 'kr',
    description: '-KR, the negated Wasserstein-1 estimate',
    create() {
      return (yTrue, yPred) => tf.tidy(() => tf.neg(isBinary(yPred) ? krBinary(yTrue, yPred) : krMulticlass(yTrue, yPred)) as tf.Scalar);
    },
    createShare() {
      return (yTrue, yPred, stats) => {
        multiclassOnly(yPred, 'kr');
        return tf.tidy(() => tf.neg(krMulticlassShare(yTrue, yPred, stats)) as tf.Scalar);
      };
    },
  },
  {
    name: 'hinge',
    description: 'hinge(minMargin), one vs all',
    create(opts = {}) {
      const m = margin(opts, "loss 'hinge'");
      return (yTrue, yPred) => (isBinary(yPred) ? hingeMarginBinary(yTrue, yPred, m) : hingeMulticlass(yTrue, yPred, m));
    },
    createShare(opts = {}) {
      const m = margin(opts, "loss 'hinge'");
      return (yTrue, yPred, stats) => {
        multiclassOnly(yPred, 'hinge');
        return hingeMulticlassShare(yTrue, yPred, stats, m);
      };
    },
  },
  {
    name: 'tau_cce',
    description: 'cross-entropy of tau * logits, divided by tau',
    create(opts = {}) {
      assertArg(opts.tau !== undefined, () => "loss 'tau_cce': option 'tau' is required (a number > 0)");
      const tau = opts.tau;
      assertPositive(tau, 'tau', "loss 'tau_cce'");
      return (yTrue, yPred) => tauCategoricalCrossentropy(yTrue, yPred, tau);
    },
    createShare(opts = {}) {
      assertArg(opts.tau !== undefined, () => "loss 'tau_cce': option 'tau' is required (a number > 0)");
      const tau = opts.tau;
      assertPositive(tau, 'tau', "loss 'tau_cce'");
      return (yTrue, yPred, stats) => tauCategoricalCrossentropyShare(yTrue, yPred, stats, tau);
    },
  },
];

/** The accepted names, in table order. */
export const LOSS_NAMES: readonly LossName[] = LOSS_FACTORIES.map((f) => f.name);

/** A loss parameter a scheduler can change. */
export type LossParameter = keyof LossOptions;

/** The parameters of each loss, with their defaults (undefined: required). */
export const LOSS_PARAMETERS: Readonly<Record<LossName, Readonly<Partial<Record<LossParameter, number | undefined>>>>> = {
  hkr: { alpha: DEFAULT_HKR_ALPHA, minMargin: DEFAULT_MIN_MARGIN },
  kr: {},
  hinge: { minMargin: DEFAULT_MIN_MARGIN },
  tau_cce: { tau: undefined },
};

/**
 * A named loss whose parameters can change during training, as deel-lip's
 * loss objects (`MulticlassHKR(alpha, min_margin)`, `TauCategoricalCrossentropy(tau)`)
 * whose variables `LossParamScheduler` assigns. Call it as a tfjs loss;
 * `loss.alpha = 50` (or `setParameter('alpha', 50)`) validates the value and
 * takes effect at the next call.
 */
export interface LipLoss extends LossFunction {
  readonly lossName: LossName;
  /** The current parameters (defaults filled in). */
  readonly options: Readonly<LossOptions>;
  /** The shard form (data-parallel `train()`), with the same current parameters. */
  readonly share: ShareLossFunction;
  /** Changes a parameter; an `InvalidArgumentError` for one this loss does not have or a bad value. */
  setParameter(name: LossParameter, value: number): void;
  alpha?: number;
  minMargin?: number;
  tau?: number;
}

function lossFactory(name: string): LossFactory {
  const factory = LOSS_FACTORIES.find((f) => f.name === name);
  assertArg(factory !== undefined, () => `'loss' must be one of ${LOSS_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  return factory;
}

/**
 * The loss called `name` with `opts`, e.g. `makeLoss('hkr', { alpha: 100,
 * minMargin: 0.25 })`: a `LipLoss`, usable as a tfjs loss
 * (`model.compile({ loss: makeLoss('hkr'), ... })`) whose parameters a
 * `LossParamScheduler` can change. Throws `InvalidArgumentError` for an
 * unknown name or a bad option.
 */
export function makeLoss(name: string, opts: LossOptions = {}): LipLoss {
  const factory = lossFactory(name);
  const defaults = LOSS_PARAMETERS[factory.name];
  let options: LossOptions = { ...stripUndefinedOptions(defaults), ...stripUndefinedOptions(opts) };
  let current = factory.create(options);
  let currentShare: ShareLossFunction | null = null;
  const loss = ((yTrue: tf.Tensor, yPred: tf.Tensor) => current(yTrue, yPred)) as LipLoss;
  const setParameter = (param: LossParameter, value: number): void => {
    assertArg(
      Object.prototype.hasOwnProperty.call(defaults, param),
      () => `loss '${factory.name}' has no parameter '${param}' (its parameters: ${Object.keys(defaults).join(', ') || 'none'})`,
    );
    const next = { ...options, [param]: value };
    current = factory.create(next); // validates
    currentShare = null;
    options = next;
  };
  Object.defineProperty(loss, 'lossName', { value: factory.name, enumerable: true });
  Object.defineProperty(loss, 'options', { get: () => ({ ...options }), enumerable: true });
  Object.defineProperty(loss, 'share', {
    value: (yTrue: tf.Tensor, yPred: tf.Tensor, stats: BatchStatistics) => (currentShare ??= factory.createShare(options))(yTrue, yPred, stats),
  });
  Object.defineProperty(loss, 'setParameter', { value: setParameter });
  for (const param of Object.keys(defaults) as LossParameter[]) {
    Object.defineProperty(loss, param, { get: () => options[param], set: (v: number) => setParameter(param, v), enumerable: true });
  }
  return loss;
}

function stripUndefinedOptions(o: Partial<Record<LossParameter, number | undefined>>): LossOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as LossOptions;
}

/** The shard form of the loss called `name` (see `ShareLossFunction`); same options and checks as `makeLoss`. */
export function makeShareLoss(name: string, opts: LossOptions = {}): ShareLossFunction {
  return lossFactory(name).createShare(opts);
}

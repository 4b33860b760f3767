/**
 * Losses by name, for the trainer and the CLI: one table of factories.
 * Each created loss picks the binary formula when `yPred` has one output
 * (`[B, 1]` or `[B]`) and the multiclass one otherwise.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  DEFAULT_HKR_ALPHA,
  DEFAULT_LSE_HKR_ALPHA,
  DEFAULT_LSE_HKR_MIN_MARGIN,
  DEFAULT_LSE_HKR_PENALTY,
  DEFAULT_LSE_HKR_TEMPERATURE,
  DEFAULT_MARGIN_CCE_OFFSET,
  DEFAULT_MARGIN_CCE_TEMPERATURE,
  DEFAULT_MIN_MARGIN,
  DEFAULT_SOFT_HKR_ALPHA,
  DEFAULT_SOFT_HKR_ALPHA_MEAN,
  DEFAULT_SOFT_HKR_MIN_MARGIN,
  DEFAULT_SOFT_HKR_TEMPERATURE,
} from '../constants';
import { assertArg } from '../errors';
import { hingeMarginBinary, hkrBinary, krBinary } from './binary';
import { lseHkrMulticlass } from './lse_hkr';
import { marginCategoricalCrossentropy } from './margin_cce';
import { hingeMulticlass, hkrMulticlass, krMulticlass } from './multiclass';
import { softHkrMulticlass, softHkrNextMean, softHkrTemperature } from './soft_hkr';
import { tauCategoricalCrossentropy } from './tau_cce';
import {
  BatchStatistics,
  hingeMulticlassShare,
  hkrMulticlassShare,
  krMulticlassShare,
  lseHkrMulticlassShare,
  marginCategoricalCrossentropyShare,
  softHkrMulticlassShare,
  tauCategoricalCrossentropyShare,
} from './shares';
import { assertNonNegative, assertPositive, assertUnitInterval } from './validate';

/** Names accepted by `makeLoss`. */
export type LossName = 'hkr' | 'kr' | 'hinge' | 'tau_cce' | 'lse_hkr' | 'soft_hkr' | 'margin_cce';

/** Options of the named losses; each loss reads the ones it needs. */
export interface LossOptions {
  /**
   * Weight of the hinge term. `hkr`: alpha * hinge - KR, default
   * `DEFAULT_HKR_ALPHA`; `lse_hkr`, `soft_hkr`: (1 - alpha) * KR + alpha *
   * hinge with alpha in [0, 1], default 0.9.
   */
  alpha?: number;
  /** Hinge margin. Default `DEFAULT_MIN_MARGIN` (`hkr`, `hinge`), 1 (`lse_hkr`, `soft_hkr`). */
  minMargin?: number;
  /** Temperature of `tau_cce`. Required for it (no default). */
  tau?: number;
  /**
   * The reference's `temperature` of each loss: `lse_hkr` multiplies the
   * logits by it (default 10); `soft_hkr` scales its softmax over the other
   * classes (default 1); `margin_cce` divides the offset logits by it (default 1/4).
   */
  temperature?: number;
  /** `lse_hkr`: the soft maximum of the other classes exceeds their maximum by at most penalty * minMargin / 2 (default 1). */
  penalty?: number;
  /** `soft_hkr`: weight of the old value in its moving mean of |logits| (default 0.99). */
  alphaMean?: number;
  /** `margin_cce`: subtracted from the true class's logit (default sqrt(2)). */
  offset?: number;
  /**
   * `soft_hkr`'s state, not a parameter: the moving mean of |logits| that sets
   * its softmax temperature (starts at `minMargin`; `LipLoss.observeStep`
   * updates it). Given here to restore a checkpoint's.
   */
  runningMean?: number;
}

/** State a loss carries from one training step to the next (`soft_hkr`'s moving mean), saved with each epoch of a checkpoint. */
export type LossState = Pick<LossOptions, 'runningMean'>;

/** What a training step tells a loss with state about its whole batch (`LipLoss.observeStep`). */
export interface StepStatistics {
  /** Mean of |logit| over the batch's B x K logits. */
  meanAbsLogit: number;
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
  /** A loss with state between training steps: the state before the first step, from the options. */
  initialState?(opts: LossOptions): LossState;
  /** A loss with state: the state after a training step on a batch with statistics `step`. */
  nextState?(opts: LossOptions, step: StepStatistics): LossState;
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

function lseHkrOptions(opts: LossOptions): Required<Pick<LossOptions, 'alpha' | 'minMargin' | 'temperature' | 'penalty'>> {
  const where = "loss 'lse_hkr'";
  const o = {
    alpha: opts.alpha ?? DEFAULT_LSE_HKR_ALPHA,
    minMargin: opts.minMargin ?? DEFAULT_LSE_HKR_MIN_MARGIN,
    temperature: opts.temperature ?? DEFAULT_LSE_HKR_TEMPERATURE,
    penalty: opts.penalty ?? DEFAULT_LSE_HKR_PENALTY,
  };
  assertUnitInterval(o.alpha, 'alpha', where);
  assertPositive(o.minMargin, 'minMargin', where);
  assertPositive(o.temperature, 'temperature', where);
  assertPositive(o.penalty, 'penalty', where);
  return o;
}

function softHkrOptions(opts: LossOptions): Required<Pick<LossOptions, 'alpha' | 'minMargin' | 'temperature' | 'alphaMean' | 'runningMean'>> {
  const where = "loss 'soft_hkr'";
  const minMargin = opts.minMargin ?? DEFAULT_SOFT_HKR_MIN_MARGIN;
  const o = {
    alpha: opts.alpha ?? DEFAULT_SOFT_HKR_ALPHA,
    minMargin,
    temperature: opts.temperature ?? DEFAULT_SOFT_HKR_TEMPERATURE,
    alphaMean: opts.alphaMean ?? DEFAULT_SOFT_HKR_ALPHA_MEAN,
    runningMean: opts.runningMean ?? minMargin,
  };
  assertUnitInterval(o.alpha, 'alpha', where);
  assertPositive(o.minMargin, 'minMargin', where);
  assertPositive(o.temperature, 'temperature', where);
  assertUnitInterval(o.alphaMean, 'alphaMean', where);
  assertPositive(o.runningMean, 'runningMean', where);
  return o;
}

function marginCceOptions(opts: LossOptions): Required<Pick<LossOptions, 'offset' | 'temperature'>> {
  const where = "loss 'margin_cce'";
  const o = { offset: opts.offset ?? DEFAULT_MARGIN_CCE_OFFSET, temperature: opts.temperature ?? DEFAULT_MARGIN_CCE_TEMPERATURE };
  assertNonNegative(o.offset, 'offset', where);
  assertPositive(o.temperature, 'temperature', where);
  return o;
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
  {
    name: 'lse_hkr',
    description: '(1 - alpha) KR + alpha hinge against a log-sum-exp of the other classes, on temperature * logits (deel-torchlip LseHKR)',
    create(opts = {}) {
      const o = lseHkrOptions(opts);
      return (yTrue, yPred) => lseHkrMulticlass(yTrue, yPred, o.alpha, o.minMargin, o.temperature, o.penalty);
    },
    createShare(opts = {}) {
      const o = lseHkrOptions(opts);
      return (yTrue, yPred, stats) => lseHkrMulticlassShare(yTrue, yPred, stats, o.alpha, o.minMargin, o.temperature, o.penalty);
    },
  },
  {
    name: 'soft_hkr',
    description: '(1 - alpha) KR + alpha hinge, the other classes weighted by a softmax whose temperature follows the logits (deel-torchlip SoftHKR)',
    create(opts = {}) {
      const o = softHkrOptions(opts);
      const softmaxTemperature = softHkrTemperature(o.runningMean, o.minMargin, o.temperature);
      return (yTrue, yPred) => softHkrMulticlass(yTrue, yPred, o.alpha, o.minMargin, softmaxTemperature);
    },
    createShare(opts = {}) {
      const o = softHkrOptions(opts);
      const softmaxTemperature = softHkrTemperature(o.runningMean, o.minMargin, o.temperature);
      return (yTrue, yPred, stats) => softHkrMulticlassShare(yTrue, yPred, stats, o.alpha, o.minMargin, softmaxTemperature);
    },
    initialState(opts) {
      return { runningMean: softHkrOptions(opts).runningMean };
    },
    nextState(opts, step) {
      const o = softHkrOptions(opts);
      return { runningMean: softHkrNextMean(o.runningMean, step.meanAbsLogit, o.alphaMean) };
    },
  },
  {
    name: 'margin_cce',
    description: 'temperature * cross-entropy of (logits - offset on the true class) / temperature (AOL, Prach & Lampert 2022)',
    create(opts = {}) {
      const o = marginCceOptions(opts);
      return (yTrue, yPred) => marginCategoricalCrossentropy(yTrue, yPred, o.offset, o.temperature);
    },
    createShare(opts = {}) {
      const o = marginCceOptions(opts);
      return (yTrue, yPred, stats) => marginCategoricalCrossentropyShare(yTrue, yPred, stats, o.offset, o.temperature);
    },
  },
];

/** The accepted names, in table order. */
export const LOSS_NAMES: readonly LossName[] = LOSS_FACTORIES.map((f) => f.name);

/** A loss parameter a scheduler can change. */
export type LossParameter = Exclude<keyof LossOptions, keyof LossState>;

/** The parameters of each loss, with their defaults (undefined: required). */
export const LOSS_PARAMETERS: Readonly<Record<LossName, Readonly<Partial<Record<LossParameter, number | undefined>>>>> = {
  hkr: { alpha: DEFAULT_HKR_ALPHA, minMargin: DEFAULT_MIN_MARGIN },
  kr: {},
  hinge: { minMargin: DEFAULT_MIN_MARGIN },
  tau_cce: { tau: undefined },
  lse_hkr: { alpha: DEFAULT_LSE_HKR_ALPHA, minMargin: DEFAULT_LSE_HKR_MIN_MARGIN, temperature: DEFAULT_LSE_HKR_TEMPERATURE, penalty: DEFAULT_LSE_HKR_PENALTY },
  soft_hkr: {
    alpha: DEFAULT_SOFT_HKR_ALPHA,
    minMargin: DEFAULT_SOFT_HKR_MIN_MARGIN,
    alphaMean: DEFAULT_SOFT_HKR_ALPHA_MEAN,
    temperature: DEFAULT_SOFT_HKR_TEMPERATURE,
  },
  margin_cce: { offset: DEFAULT_MARGIN_CCE_OFFSET, temperature: DEFAULT_MARGIN_CCE_TEMPERATURE },
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
  /** The state carried between training steps (`soft_hkr`: `runningMean`); `{}` for a loss without. */
  readonly state: Readonly<LossState>;
  /**
   * Tells the loss about the training step just taken (the trainer calls it
   * after every step); a loss with state updates it, effective at the next
   * call. `model.fit` does not call it: there `soft_hkr` keeps its initial
   * temperature unless a callback calls it.
   */
  observeStep(step: StepStatistics): void;
  alpha?: number;
  minMargin?: number;
  tau?: number;
  temperature?: number;
  penalty?: number;
  alphaMean?: number;
  offset?: number;
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
  // A loss with state starts from its initial state, unless `opts` restores one (a checkpoint's).
  const initialState = factory.initialState?.(options) ?? {};
  const stateKeys = Object.keys(initialState) as (keyof LossState)[];
  options = { ...initialState, ...options };
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
  Object.defineProperty(loss, 'state', { get: () => Object.fromEntries(stateKeys.map((k) => [k, options[k]])) as LossState, enumerable: true });
  Object.defineProperty(loss, 'observeStep', {
    value: (step: StepStatistics): void => {
      if (factory.nextState === undefined) return;
      const next = { ...options, ...factory.nextState(options, step) };
      current = factory.create(next);
      currentShare = null;
      options = next;
    },
  });
  for (const param of Object.keys(defaults) as LossParameter[]) {
    Object.defineProperty(loss, param, { get: () => options[param], set: (v: number) => setParameter(param, v), enumerable: true });
  }
  return loss;
}

function stripUndefinedOptions(o: Partial<Record<keyof LossOptions, number | undefined>>): LossOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as LossOptions;
}

/** The shard form of the loss called `name` (see `ShareLossFunction`); same options and checks as `makeLoss`. */
export function makeShareLoss(name: string, opts: LossOptions = {}): ShareLossFunction {
  return lossFactory(name).createShare(opts);
}

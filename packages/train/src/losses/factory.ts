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
import {
  BatchStatistics,
  hingeMulticlassShare,
  hkrMulticlassShare,
  krMulticlassShare,
  tauCategoricalCrossentropyShare,
} from './shares';
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
      return (yTrue, yPred) =>
        isBinary(yPred) ? hkrBinary(yTrue, yPred, alpha, m) : hkrMulticlass(yTrue, yPred, alpha, m);
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
      return (yTrue, yPred) =>
        tf.tidy(() => tf.neg(isBinary(yPred) ? krBinary(yTrue, yPred) : krMulticlass(yTrue, yPred)) as tf.Scalar);
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
      return (yTrue, yPred) =>
        isBinary(yPred) ? hingeMarginBinary(yTrue, yPred, m) : hingeMulticlass(yTrue, yPred, m);
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

/**
 * The loss called `name` with `opts`, e.g. `makeLoss('hkr', { alpha: 100,
 * minMargin: 0.25 })`. Throws `InvalidArgumentError` for an unknown name or
 * a bad option.
 */
export function makeLoss(name: string, opts: LossOptions = {}): LossFunction {
  const factory = LOSS_FACTORIES.find((f) => f.name === name);
  assertArg(
    factory !== undefined,
    () => `'loss' must be one of ${LOSS_NAMES.join(', ')}, got ${JSON.stringify(name)}`,
  );
  return factory.create(opts);
}

/** The shard form of the loss called `name` (see `ShareLossFunction`); same options and checks as `makeLoss`. */
export function makeShareLoss(name: string, opts: LossOptions = {}): ShareLossFunction {
  const factory = LOSS_FACTORIES.find((f) => f.name === name);
  assertArg(
    factory !== undefined,
    () => `'loss' must be one of ${LOSS_NAMES.join(', ')}, got ${JSON.stringify(name)}`,
  );
  return factory.createShare(opts);
}

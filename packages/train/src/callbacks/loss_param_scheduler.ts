/**
 * deel-lip's `LossParamScheduler`: sets a parameter of the loss before each
 * batch to the piecewise-linear interpolation of `fp` at the global step
 * (numpy's `interp(step, xp, fp)`: `fp[0]` before `xp[0]`, the last value
 * after the last point). Schedules HKR's `alpha` and `minMargin`, or the
 * temperature `tau` of Tau-CCE.
 *
 * The step is the number of batches trained before this one, counted from
 * `step` (default 0). When the steps per epoch are known (`train()`, and
 * `fit` on tensors) it is recomputed at each epoch as step + epoch × steps, so a run
 * resumed at an epoch (`initialEpoch`, `train({ resume })`) takes the same
 * values as an uninterrupted one.
 */
import { Callback } from '@tensorflow/tfjs-layers';
import { assertArg } from '../errors';
import type { LipLoss, LossParameter } from '../losses';

export interface LossParamSchedulerArgs {
  /** The parameter: `alpha`, `minMargin` (HKR, hinge) or `tau` (Tau-CCE). */
  param: LossParameter;
  /** Steps (batches) where the parameter takes the values `fp`; increasing. */
  xp: number[];
  /** The values at `xp`. */
  fp: number[];
  /** The loss to change. Default: the model's (`model.compile({ loss })`; `train()` sets its own). */
  loss?: LipLoss;
  /** Step of the first batch. Default 0. */
  step?: number;
}

/** `fp` linearly interpolated at `x` over the points `xp` (increasing), clamped at both ends. */
export function interpolate(x: number, xp: readonly number[], fp: readonly number[]): number {
  if (x <= xp[0]!) return fp[0]!;
  for (let i = 1; i < xp.length; i++) {
    if (x <= xp[i]!) return fp[i - 1]! + ((fp[i]! - fp[i - 1]!) * (x - xp[i - 1]!)) / (xp[i]! - xp[i - 1]!);
  }
  return fp[fp.length - 1]!;
}

export class LossParamScheduler extends Callback {
  readonly param: LossParameter;
  readonly xp: readonly number[];
  readonly fp: readonly number[];
  /** Steps taken (the next batch's step). */
  step: number;
  /** The value set before the last batch, or undefined before the first. */
  value: number | undefined;
  private readonly target: LipLoss | undefined;
  private readonly firstStep: number;

  constructor(args: LossParamSchedulerArgs) {
    super();
    const { xp, fp } = args;
    assertArg(
      ['alpha', 'minMargin', 'tau'].includes(args.param),
      () => `LossParamScheduler: 'param' must be 'alpha', 'minMargin' or 'tau', got ${JSON.stringify(args.param)}`,
    );
    assertArg(
      Array.isArray(xp) && Array.isArray(fp) && xp.length > 0 && xp.length === fp.length,
      () => `LossParamScheduler: 'xp' and 'fp' must be arrays of the same non-zero length, got ${JSON.stringify(xp)} and ${JSON.stringify(fp)}`,
    );
    assertArg(xp.every(Number.isFinite) && fp.every(Number.isFinite), () => `LossParamScheduler: 'xp' and 'fp' must hold finite numbers`);
    assertArg(
      xp.every((x, i) => i === 0 || x > xp[i - 1]!),
      () => `LossParamScheduler: 'xp' must be increasing, got ${JSON.stringify(xp)}`,
    );
    const step = args.step ?? 0;
    assertArg(Number.isInteger(step) && step >= 0, () => `LossParamScheduler: 'step' must be an integer >= 0, got ${step}`);
    this.param = args.param;
    this.xp = [...xp];
    this.fp = [...fp];
    this.step = step;
    this.firstStep = step;
    this.target = args.loss;
  }

  /** The loss this scheduler changes. */
  private loss(): LipLoss {
    const loss = this.target ?? (this.model?.loss as unknown as LipLoss | undefined);
    assertArg(
      typeof loss === 'function' && typeof (loss as Partial<LipLoss>).setParameter === 'function',
      () => `LossParamScheduler: the model's loss has no parameters to schedule; compile with a loss from makeLoss (e.g. makeLoss('hkr')) or pass 'loss'`,
    );
    return loss;
  }

  /** Batches per epoch, when the run says. */
  private stepsPerEpoch(): number | null {
    const p = this.params ?? {};
    if (typeof p['steps'] === 'number' && p['steps'] > 0) return p['steps'];
    if (typeof p['samples'] === 'number' && typeof p['batchSize'] === 'number' && p['batchSize'] > 0) {
      return Math.ceil(p['samples'] / p['batchSize']);
    }
    return null;
  }

  override async onTrainBegin(): Promise<void> {
    this.loss(); // a loss without parameters fails before the first step
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    const steps = this.stepsPerEpoch();
    if (steps !== null) this.step = this.firstStep + epoch * steps;
  }

  override async onBatchBegin(): Promise<void> {
    this.value = interpolate(this.step, this.xp, this.fp);
    this.loss().setParameter(this.param, this.value);
    this.step++;
  }
}

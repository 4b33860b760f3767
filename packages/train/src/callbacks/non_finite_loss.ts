/**
 * A non-finite loss stops training with one error that says where and what
 * to do. `LipschitzSequential.fit` and `fitDataset` add `StopOnNonFiniteLoss`
 * by themselves; `train()` checks each step's loss and every weight before
 * it writes a checkpoint, so the checkpoint on disk stays the last good one.
 */
import type { Scalar } from '@tensorflow/tfjs-core';
import { Callback } from '@tensorflow/tfjs-layers';
import type { UnresolvedLogs } from '@tensorflow/tfjs-layers/dist/logs';
import { LipError } from '../errors';

/** Training diverged: the loss (or a weight) is NaN or infinite. Exit code 2: the fix is a setting. */
export class NonFiniteLossError extends LipError {
  constructor(
    message: string,
    /** 1-based epoch. */
    readonly epoch: number,
    /** 1-based batch within the epoch, or null when found after the epoch (validation, weights). */
    readonly batch: number | null,
  ) {
    super(message, 2);
  }
}

/** Where a non-finite value appeared, for the message. */
export interface NonFiniteLossContext {
  /** What was not finite: `'the loss'`, `'the validation loss'`, `"weight 'x/kernel'"`. */
  what: string;
  value: number;
  /** 1-based. */
  epoch: number;
  /** 1-based batch, or null (after the epoch's last batch). */
  batch: number | null;
  /** Batches per epoch, when known. */
  steps?: number | null;
  /** The learning rate of the step, when known. */
  lr?: number;
  /** What was kept, e.g. `the checkpoint in runs/x still holds epoch 2`. */
  kept?: string;
}

/** `the loss is NaN at epoch 2, batch 7 of 32: training diverged; lower the learning rate (now 0.005, try 0.0025) ...` */
export function nonFiniteLossError(ctx: NonFiniteLossContext): NonFiniteLossError {
  const value = Number.isNaN(ctx.value) ? 'NaN' : ctx.value > 0 ? 'infinite' : '-infinite';
  const where = ctx.batch === null ? `after epoch ${ctx.epoch}` : `at epoch ${ctx.epoch}, batch ${ctx.batch}${ctx.steps != null ? ` of ${ctx.steps}` : ''}`;
  const lr = ctx.lr !== undefined && Number.isFinite(ctx.lr) ? ` (now ${ctx.lr}, try ${ctx.lr / 2} or less)` : '';
  const kept = ctx.kept !== undefined ? `; ${ctx.kept}` : '';
  return new NonFiniteLossError(
    `${ctx.what} is ${value} ${where}: training diverged; lower the learning rate${lr} and train again${kept}`,
    ctx.epoch,
    ctx.batch,
  );
}

/** The number in a log entry (a number, or a scalar tensor as tfjs-layers passes it). */
export async function logValue(value: number | Scalar | undefined): Promise<number | undefined> {
  if (value === undefined || typeof value === 'number') return value;
  return (await value.data())[0];
}

/**
 * Throws `NonFiniteLossError` from `onBatchEnd` when the batch's loss is NaN
 * or infinite (Keras' `TerminateOnNaN`, but loud: fit rejects with the
 * error). `LipschitzSequential.fit` and `fitDataset` add it themselves.
 */
export class StopOnNonFiniteLoss extends Callback {
  private epoch = 0;

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, logs?: UnresolvedLogs): Promise<void> {
    const loss = await logValue(logs?.['loss']);
    if (loss === undefined || Number.isFinite(loss)) return;
    const optimizer = this.model?.optimizer as unknown as { learningRate?: unknown } | undefined;
    const lr = typeof optimizer?.learningRate === 'number' ? optimizer.learningRate : undefined;
    const steps =
      typeof this.params?.['steps'] === 'number'
        ? this.params['steps']
        : typeof this.params?.['samples'] === 'number' && typeof this.params?.['batchSize'] === 'number'
          ? Math.ceil((this.params['samples'] as number) / (this.params['batchSize'] as number))
          : null;
    throw nonFiniteLossError({ what: 'the loss', value: loss, epoch: this.epoch + 1, batch: batch + 1, steps, lr });
  }
}

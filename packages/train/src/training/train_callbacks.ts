/**
 * `train()` runs the callbacks it is given as `model.fit` does, so one
 * callback (tfjs `Callback`, `CustomCallback`, deel-lip's `CondenseCallback`,
 * `MonitorCallback`, `LossParamScheduler`, tfjs' `EarlyStopping`) works with
 * both. Epochs and batches are 0-based, as in tfjs; `params` holds `epochs`,
 * `initialEpoch`, `samples`, `steps` (per epoch) and `batchSize`. Batch logs
 * hold the batch's own `loss`, `acc` and `kr`; epoch logs the epoch's means
 * and the validation metrics. `model.loss` is the run's loss (a `LipLoss`),
 * whose parameters a scheduler may change.
 */
import { CallbackList, LayersModel, Sequential } from '@tensorflow/tfjs-layers';
import { standardizeCallbacks } from '../callbacks/standardize';
import type { LipLoss } from '../losses';
import type { EpochRecord } from './checkpoint';
import type { TrainCallbacks } from './config';

/** `params` of the callbacks of a `train()` run. */
export interface TrainCallbackParams {
  epochs: number;
  initialEpoch: number;
  samples: number;
  steps: number;
  batchSize: number;
  doValidation: boolean;
}

export class TrainCallbackRunner {
  private readonly list: CallbackList | null;

  constructor(
    callbacks: TrainCallbacks | undefined,
    private readonly model: LayersModel,
    loss: LipLoss,
  ) {
    // 'never': train() yields to the event loop after every step by itself.
    const standard = standardizeCallbacks(callbacks, 'never');
    this.list = standard.length > 0 ? new CallbackList(standard) : null;
    if (this.list !== null) {
      model.loss = loss;
      this.list.setModel(model);
    }
  }

  async trainBegin(params: TrainCallbackParams): Promise<void> {
    // tf.Sequential keeps stopTraining on an inner model that build() makes (compile and predict make it too).
    if (this.model instanceof Sequential && (this.model as unknown as { model: unknown }).model == null) this.model.build();
    this.model.stopTraining = false;
    if (this.list === null) return;
    this.list.setParams({ ...params, verbose: 0, metrics: ['loss', 'acc', 'kr', ...(params.doValidation ? ['val_loss', 'val_acc', 'val_kr'] : [])] });
    await this.list.onTrainBegin();
  }

  async epochBegin(epoch: number): Promise<void> {
    await this.list?.onEpochBegin(epoch);
  }

  async batchBegin(batch: number, size: number): Promise<void> {
    await this.list?.onBatchBegin(batch, { batch, size });
  }

  /** `metrics`: the batch's [loss, acc, kr]. */
  async batchEnd(batch: number, size: number, metrics: ArrayLike<number>): Promise<void> {
    await this.list?.onBatchEnd(batch, { batch, size, loss: metrics[0]!, acc: metrics[1]!, kr: metrics[2]! });
  }

  async epochEnd(epoch: number, record: EpochRecord): Promise<void> {
    if (this.list === null) return;
    const logs: Record<string, number> = { loss: record.loss, acc: record.acc, kr: record.kr };
    if (record.val_loss !== undefined) Object.assign(logs, { val_loss: record.val_loss, val_acc: record.val_acc, val_kr: record.val_kr });
    await this.list.onEpochEnd(epoch, logs);
  }

  async trainEnd(): Promise<void> {
    await this.list?.onTrainEnd();
  }
}

import { createProgress, Progress, ProgressStream } from '@lip/core';
import { EpochRecord } from './checkpoint';
import { TrainHooks } from './hooks';

const f4 = (x: number): string => x.toFixed(4);

/** `epoch 2/10  loss ...  val_kr ...  lr 4.90e-4  12.3s`: the per-epoch line (lr: the epoch's last step's). */
export function formatEpoch(record: EpochRecord, epochs: number): string {
  return (
    `epoch ${record.epoch}/${epochs}  loss ${f4(record.loss)}  acc ${f4(record.acc)}  kr ${f4(record.kr)}  ` +
    (record.val_loss !== undefined ? `val_loss ${f4(record.val_loss)}  val_acc ${f4(record.val_acc!)}  val_kr ${f4(record.val_kr!)}  ` : '') +
    (record.lr !== undefined ? `lr ${record.lr.toExponential(2)}  ` : '') +
    `${record.seconds.toFixed(1)}s`
  );
}

/**
 * Hooks that show a run on `stream` (stderr by default) through @lip/core's
 * progress display: a bar per epoch with live loss/acc/kr on a terminal, then
 * the epoch's line with the validation metrics. Not a terminal (CI, a pipe):
 * the epoch lines only.
 */
export function consoleProgress(stream: ProgressStream = process.stderr): TrainHooks {
  let epochBar: Progress | null = null;
  const stopBar = (): void => {
    epochBar?.stop();
    epochBar = null;
  };
  return {
    logger: (message) => (epochBar ? epochBar.log(message) : stream.write(`${message}\n`)),
    onEpochStart: ({ epoch, epochs, steps }) => {
      epochBar = createProgress({ stream, title: `epoch ${epoch}/${epochs}`, lines: 'none', clearOnStop: true });
      epochBar.update(0, steps, { suffix: 'loss -  acc -  kr -' });
    },
    onBatchEnd: ({ step, steps, loss, acc, kr }) => epochBar?.update(step, steps, { suffix: `loss ${f4(loss)}  acc ${f4(acc)}  kr ${f4(kr)}` }),
    onEpochEnd: (record, { epochs }) => {
      stopBar();
      stream.write(`${formatEpoch(record, epochs)}\n`);
    },
    onEnd: stopBar,
  };
}

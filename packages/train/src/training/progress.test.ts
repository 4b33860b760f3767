import type { ProgressStream } from '@lip/core';
import { fakeTerminal } from '@lip/test-support';
import { EpochRecord } from './checkpoint';
import { consoleProgress } from './progress';

const RECORD: EpochRecord = { epoch: 1, loss: 0.5, acc: 0.75, kr: 0.125, val_loss: 0.25, val_acc: 0.8, val_kr: 0.1, lr: 1e-3, seconds: 2.5 } as EpochRecord;

/** One epoch of two steps, with a log message in the middle. */
function runEpoch(stream: ProgressStream): void {
  const hooks = consoleProgress(stream);
  hooks.onEpochStart!({ epoch: 1, epochs: 2, steps: 2 });
  hooks.onBatchEnd!({ epoch: 1, step: 1, steps: 2, loss: 0.6, acc: 0.5, kr: 0.1, lr: 1e-3 });
  hooks.logger!('backend: wasm');
  hooks.onBatchEnd!({ epoch: 1, step: 2, steps: 2, loss: 0.5, acc: 0.75, kr: 0.125, lr: 1e-3 });
  hooks.onEpochEnd!(RECORD, { epochs: 2 });
  hooks.onEnd!();
}

const EPOCH_LINE = 'epoch 1/2  loss 0.5000  acc 0.7500  kr 0.1250  val_loss 0.2500  val_acc 0.8000  val_kr 0.1000  lr 1.00e-3  2.5s';

test('not a terminal: the log messages and one line per epoch, no bar', () => {
  const s = fakeTerminal(false);
  runEpoch(s);
  expect(s.text()).toBe(`backend: wasm\n${EPOCH_LINE}\n`);
});

test('a terminal: a bar during the epoch, cleared for the epoch line', () => {
  jest.useFakeTimers();
  try {
    const s = fakeTerminal(true);
    runEpoch(s);
    // The bar was drawn (the log message forces a redraw) and is gone: the epoch line follows a clearing of the screen below.
    expect(s.text()).toMatch(/epoch 1\/2 \[#{15}\.{15}\] 1\/2 {2}loss 0\.6000 {2}acc 0\.5000 {2}kr 0\.1000/);
    expect(s.text()).toContain('backend: wasm\n');
    expect(s.text().endsWith(`\x1b[0J${EPOCH_LINE}\n`)).toBe(true);
  } finally {
    jest.useRealTimers();
  }
});

/**
 * `--arch aol`, `sll`, `sll-wide`, `sll-deep`, `sll-large` and `sll-lift` end to end, as a user runs them: one epoch of
 * `lip train` on 128 Fashion-MNIST images with two data-parallel workers
 * (the workers run dist/: build first), `lip export`, then `lip bound` on
 * the file, which must certify the claimed constant 1 (for SLL, with its
 * block rule: the generic rules give far more).
 */
import * as fs from 'fs';
import { tmpDirPerSuite } from '@lip/test-support';
import { expectLipOk, lip } from '@lip/test-support/cli';
import { FASHION_DIR } from '@lip/test-support/data';

describe.each(['aol', 'sll', 'sll-wide', 'sll-deep', 'sll-large', 'sll-lift'])('lip train --arch %s, export, bound', (arch) => {
  const tmp = tmpDirPerSuite(`arch-${arch}`);

  it('trains one epoch on two workers, exports, and its bound is <= the claimed 1', async () => {
    const out = tmp.path('run');
    const train = await lip(
      'train',
      '--arch',
      arch,
      '--limit',
      '128',
      '--batch-size',
      '64',
      '--epochs',
      '1',
      '--workers',
      '2',
      '--data',
      FASHION_DIR,
      '--backend',
      'wasm',
      '--out',
      out,
    );
    expectLipOk(train);
    expect(train.err).toMatch(/^epoch 1\/1 .*val_acc/m);
    const onnxFile = tmp.path('model.onnx');
    expectLipOk(await lip('export', out, '-o', onnxFile));
    const json = tmp.path('bound.json');
    const bound = await lip('bound', onnxFile, '--no-cache', '--json', json);
    expectLipOk(bound);
    expect(bound.out + bound.err).toContain('metadata lipschitz_constant = 1: consistent (bound <= claim)');
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { total: number; layers: { op: string; factor: number }[] };
    expect(report.total).toBeLessThanOrEqual(1);
    if (arch !== 'aol') {
      const blocks = report.layers.filter((l) => l.op === 'SLL');
      expect(blocks).toHaveLength(arch === 'sll-deep' ? 7 : 4); // three (six) SLL convs and the SLL dense
      for (const b of blocks) expect(b.factor).toBe(1);
    }
  });
});

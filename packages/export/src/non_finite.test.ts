/**
 * A diverged model (a NaN or infinite weight) is refused with a message that
 * says so and names the layer, before anything is computed from it or
 * written (it used to fail deep in a bound: "'entryError' must be finite").
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl } from '@tensorflow/tfjs-layers';
import { GroupSort2, LipschitzSequential, ModelError, SpectralConv2D, SpectralDense } from '@lip/train';
import { saveCheckpoint } from '@lip/train/node';
import { withTmpDir } from '@lip/test-support';
import { exportCheckpoint, exportOnnx } from './export';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function model(): LipschitzSequential {
  return new LipschitzSequential({
    logger: { warn: () => undefined },
    layers: [
      new SpectralConv2D({ name: 'conv', filters: 2, kernelSize: 3, inputShape: [6, 6, 1], seed: 1 }),
      new GroupSort2(),
      tfl.flatten(),
      new SpectralDense({ name: 'head', units: 3, seed: 2 }),
    ],
  });
}

/** Sets element `index` of layer `layer`'s weight `which` (0 kernel, 1 bias) to `value`. */
function poison(m: LipschitzSequential, layer: string, which: number, index: number, value: number): void {
  const w = m.getLayer(layer).weights[which]!;
  const values = Float32Array.from(w.read().dataSync());
  values[index] = value;
  tf.tidy(() => w.write(tf.tensor(values, w.shape as number[])));
}

test('exportOnnx names the layer, the weight and the value', () => {
  const nan = model();
  poison(nan, 'head', 0, 5, Number.NaN);
  expect(() => exportOnnx(nan)).toThrow(ModelError);
  // (tfjs suffixes variable names to keep them unique: head/kernel, head/kernel_1, ...)
  expect(() => exportOnnx(nan)).toThrow(
    new RegExp(
      "^layer 'head' has a NaN value in its weight 'head/kernel(_\\d+)?' \\(index 5\\): the model diverged in training and cannot be exported; " +
        'train it again with a lower learning rate \\(lip train --lr\\)$',
    ),
  );
  const inf = model();
  poison(inf, 'conv', 1, 1, Number.NEGATIVE_INFINITY);
  expect(() => exportOnnx(inf)).toThrow(/^layer 'conv' has an infinite value in its weight 'conv\/bias(_\d+)?' \(index 1\)/);
  // The same models, repaired, export.
  poison(nan, 'head', 0, 5, 0.1);
  expect(exportOnnx(nan).length).toBeGreaterThan(100);
  [nan, inf].forEach((m) => m.dispose());
});

test('exportCheckpoint of a diverged checkpoint writes nothing', async () => {
  await withTmpDir('export-nan', async (tmp) => {
    const m = model();
    poison(m, 'conv', 0, 0, Number.NaN);
    const optimizer = tf.train.adam(1e-3);
    const config = {
      arch: 'seed',
      epochs: 1,
      batchSize: 1,
      lr: 1e-3,
      lrSchedule: 'constant' as const,
      loss: 'hkr',
      alpha: 1,
      minMargin: 1,
      seed: 1,
      dataset: 'memory',
      classNames: ['a', 'b', 'c'],
      outDir: tmp,
      valSplit: 'test' as const,
    };
    await saveCheckpoint(tmp, m, optimizer, { config, epochs: [] });
    const out = path.join(tmp, 'model.onnx');
    await expect(exportCheckpoint(tmp, out)).rejects.toThrow(/^layer 'conv' has a NaN value in its weight 'conv\/kernel(_\d+)?' \(index 0\)/);
    expect(fs.existsSync(out)).toBe(false);
    m.dispose();
    optimizer.dispose();
  });
});

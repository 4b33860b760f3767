/**
 * The README's "Using the library" snippets run as they are written: the
 * `fit` one trains 1,000 Fashion-MNIST images for an epoch with the three
 * callbacks into a 1-Lipschitz model, and the loading one reads a checkpoint
 * with `tf.loadLayersModel('file://…')` and with `fileHandler`. Each snippet
 * is compiled by swc (as Jest compiles the tests) and run with this test's
 * `require`, so its imports resolve to the packages.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { LipschitzSequential, buildModel } from '@lip/train';
import { fileHandler } from '@lip/train/node';
import { ROOT, withTmpDir } from '@lip/test-support';
import { haveFashionMnist } from '@lip/test-support/data';
import { measuredLayerBounds } from '@lip/test-support/measure';

jest.setTimeout(300_000);

/** The first ```ts block after the README heading `#### <title>`. */
function snippet(title: string): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(`#### ${title}\n`);
  expect(at).toBeGreaterThan(0);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(block).not.toBeNull();
  return block![1]!;
}

/** Runs a snippet (TypeScript with imports and top-level await); returns the values of `names` it declared. */
async function runSnippet(code: string, names: string[]): Promise<Record<string, unknown>> {
  const { transformSync } = require('@swc/core') as typeof import('@swc/core');
  const js = transformSync(code, {
    filename: 'snippet.ts',
    isModule: true,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  }).code;
  const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;
  const body = `${js}\nreturn { ${names.join(', ')} };`;
  return (await new AsyncFunction('require', 'exports', 'module', body)(require, {}, { exports: {} })) as Record<string, unknown>;
}

const noData = haveFashionMnist() ? null : 'skipped: the Fashion-MNIST training split is not on disk (apt-get install dataset-fashion-mnist)';

test('the fit snippet trains a 1-Lipschitz model with the three callbacks', async () => {
  if (noData) {
    console.warn(noData);
    return;
  }
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    const { model, x, y } = await runSnippet(snippet("Train with tfjs' own `fit`"), ['model', 'x', 'y']);
    expect(model).toBeInstanceOf(LipschitzSequential);
    const m = model as LipschitzSequential;
    // MonitorCallback's line for the epoch
    expect(log).toHaveBeenCalledWith(expect.stringMatching(/^epoch 1 \(wbar\): spectral_conv2d_\d+ σmax 0\.3333 bound /));
    // HKR alpha reached the scheduler's last value
    expect((m.loss as unknown as { alpha: number }).alpha).toBe(100);
    // Every layer's kernel, measured: the network is 1-Lipschitz.
    for (const bound of measuredLayerBounds(m)) expect(bound).toBeLessThanOrEqual(1 + 1e-4);
    const acc = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(m.predict(x as tf.Tensor) as tf.Tensor, 1), tf.argMax(y as tf.Tensor, 1)), 'float32')).dataSync()[0]!);
    expect(acc).toBeGreaterThan(0.5);
    expect(m.lipschitzConstant()).toBe(1);
    tf.dispose([x as tf.Tensor, y as tf.Tensor]);
    m.dispose();
  } finally {
    log.mockRestore();
  }
});

test('the loading snippet: tf.loadLayersModel(\'file://…\') and fileHandler, without tfjs-node', async () => {
  await withTmpDir('readme-load', async (tmp) => {
    await tf.setBackend('cpu');
    const saved = buildModel('seed', { seed: 1, logger: { warn: () => undefined } });
    await saved.save(fileHandler(path.join(tmp, 'runs', 'seed')));
    const code = snippet('Loading a checkpoint').replaceAll('runs/seed', path.join(tmp, 'runs', 'seed'));
    const { model, same } = await runSnippet(code, ['model', 'same']);
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 3);
    const expected = saved.predict(x) as tf.Tensor;
    for (const loaded of [model, same] as LayersModel[]) {
      expect(loaded).toBeInstanceOf(LipschitzSequential);
      const got = loaded.predict(x) as tf.Tensor;
      expect(Array.from(got.dataSync())).toEqual(Array.from(expected.dataSync()));
      got.dispose();
      loaded.dispose();
    }
    tf.dispose([x, expected]);
    saved.dispose();
  });
});

/**
 * The README's "Using the library" snippets run as they are written: the
 * `fit` one trains 1,000 Fashion-MNIST images for an epoch with the three
 * callbacks into a 1-Lipschitz model, and the loading one reads a checkpoint
 * with `tf.loadLayersModel('file://…')` and with `fileHandler`. Each snippet
 * is compiled by swc (as Jest compiles the tests) and run with this test's
 * `require`, so its imports resolve to the packages.
 *
 * Jest has a tfjs backend running already, a user's fresh process has none:
 * there importing @lip/train makes wasm, which starts asynchronously, the
 * backend tfjs picks, and a tensor made before it started throws. So the
 * loading snippet and `runAttack` also run in a fresh node, on the built
 * packages (`npx tsc -b` first).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { LipschitzSequential, buildModel } from '@lip/train';
import { fileHandler } from '@lip/train/node';
import { readOnnxModel, openSession } from '@lip/verify';
import { runAttack, TRANSLATION_TOLERANCE } from '@lip/verify/attacks';
import { randomImages, ROOT, withTmpDir } from '@lip/test-support';
import { haveFashionMnist } from '@lip/test-support/data';
import { measuredLayerBounds } from '@lip/test-support/measure';
import { honestConvModel } from '@lip/test-support/onnx';

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

/** A snippet (TypeScript with imports and top-level await) as CommonJS, its top-level await kept. */
function compileSnippet(code: string): string {
  const { transformSync } = require('@swc/core') as typeof import('@swc/core');
  return transformSync(code, {
    filename: 'snippet.ts',
    isModule: true,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  }).code;
}

/** Runs a snippet with this test's `require`; returns the values of `names` it declared. */
async function runSnippet(code: string, names: string[]): Promise<Record<string, unknown>> {
  const js = compileSnippet(code);
  const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;
  const body = `${js}\nreturn { ${names.join(', ')} };`;
  return (await new AsyncFunction('require', 'exports', 'module', body)(require, {}, { exports: {} })) as Record<string, unknown>;
}

/**
 * Runs `body` (CommonJS, may `await`) in a fresh node from the root, so `@lip/*` resolve to the built
 * packages; returns what it wrote to stdout, parsed as JSON.
 */
function runInFreshNode(body: string): unknown {
  const script = `(async () => {\n${body}\n})().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`the fresh node exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout);
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
    const acc = tf.tidy(
      () => tf.mean(tf.cast(tf.equal(tf.argMax(m.predict(x as tf.Tensor) as tf.Tensor, 1), tf.argMax(y as tf.Tensor, 1)), 'float32')).dataSync()[0]!,
    );
    expect(acc).toBeGreaterThan(0.5);
    expect(m.lipschitzConstant()).toBe(1);
    tf.dispose([x as tf.Tensor, y as tf.Tensor]);
    m.dispose();
  } finally {
    log.mockRestore();
  }
});

/** The seed model, saved (on cpu) under `<tmp>/runs/seed`, and the loading snippet pointed at it. */
async function savedSeedModel(tmp: string): Promise<{ saved: LipschitzSequential; code: string }> {
  await tf.setBackend('cpu');
  const saved = buildModel('seed', { seed: 1, logger: { warn: () => undefined } });
  const dir = path.join(tmp, 'runs', 'seed');
  await saved.save(fileHandler(dir));
  return { saved, code: snippet('Loading a checkpoint').replaceAll('runs/seed', dir) };
}

test("the loading snippet: tf.loadLayersModel('file://…') and fileHandler, without tfjs-node", async () => {
  await withTmpDir('readme-load', async (tmp) => {
    const { saved, code } = await savedSeedModel(tmp);
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

test('the loading snippet works in a fresh node, where no backend was chosen', async () => {
  await withTmpDir('readme-load-fresh', async (tmp) => {
    const { saved, code } = await savedSeedModel(tmp);
    const input = Array.from(randomImages(2, [28, 28, 1], 5));
    const out = runInFreshNode(`${compileSnippet(code)}
      const tfc = require('@tensorflow/tfjs-core');
      const x = tfc.tensor(${JSON.stringify(input)}, [2, 28, 28, 1]);
      const report = (m) => ({ className: m.getClassName(), weights: m.getWeights().map((w) => Array.from(w.dataSync())),
        logits: Array.from(m.predict(x).dataSync()) });
      process.stdout.write(JSON.stringify({ model: report(model), same: report(same) }));`) as Record<
      'model' | 'same',
      { className: string; weights: number[][]; logits: number[] }
    >;
    const x = tf.tensor(input, [2, 28, 28, 1]);
    const expected = saved.predict(x) as tf.Tensor;
    const logits = Array.from(expected.dataSync());
    const weights = saved.getWeights().map((w) => Array.from(w.dataSync()));
    for (const loaded of [out.model, out.same]) {
      expect(loaded.className).toBe(saved.getClassName());
      expect(loaded.weights).toEqual(weights);
      // Another backend (the fresh node's) rounds differently.
      expect(loaded.logits).toHaveLength(logits.length);
      loaded.logits.forEach((v, i) => expect(Math.abs(v - logits[i]!)).toBeLessThan(1e-4));
    }
    expect(out.same.logits).toEqual(out.model.logits);
    tf.dispose([x, expected]);
    saved.dispose();
  });
});

test('runAttack in a fresh node starts the tfjs backend it needs', async () => {
  await withTmpDir('readme-attack-fresh', async (tmp) => {
    const file = path.join(tmp, 'honest.onnx');
    fs.writeFileSync(file, honestConvModel(2));
    const n = 3;
    const chw: [number, number, number] = [1, 6, 6];
    const images = randomImages(n, chw, 7);
    const labels = new Array<number>(n).fill(0);
    const indices = [0, 1, 2];
    const opts = { attack: 'pgd', steps: 10, eps: 0.5 } as const;
    const out = runInFreshNode(`
      const { readOnnxModel, openSession } = require('@lip/verify');
      const { runAttack } = require('@lip/verify/attacks');
      const model = readOnnxModel(${JSON.stringify(file)});
      const session = await openSession(model);
      try {
        const r = await runAttack(model, session, Float32Array.from(${JSON.stringify(Array.from(images))}), ${JSON.stringify(labels)},
          ${JSON.stringify(indices)}, ${JSON.stringify(chw)}, ${JSON.stringify(opts)});
        const { adversarials, seconds, ...rest } = r;
        process.stdout.write(JSON.stringify(rest));
      } finally {
        await session.close();
      }`) as { translationMaxDiff: number; violations: number; results: { pred: number; certificate: number }[] };
    // The onnxruntime half (predictions, certificates) as this process computes it.
    const model = readOnnxModel(file);
    const session = await openSession(model);
    try {
      await tf.setBackend('cpu');
      const here = await runAttack(model, session, images, labels, indices, chw, opts);
      expect(out.results.map((r) => [r.pred, r.certificate])).toEqual(here.results.map((r) => [r.pred, r.certificate]));
    } finally {
      await session.close();
    }
    expect(out.translationMaxDiff).toBeLessThanOrEqual(TRANSLATION_TOLERANCE);
    expect(out.violations).toBe(0);
  });
});

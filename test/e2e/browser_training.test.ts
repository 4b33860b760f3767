/**
 * Training in the browser: a small script that imports `@lip/train` (its
 * browser-safe main entry) is bundled by esbuild with `--platform=browser`,
 * and trains a Lipschitz CNN with tfjs-layers' `fit` for a few steps in
 * Debian's headless Chromium (playwright-core; never a downloaded browser).
 * The page hands its weights back; Node rebuilds the model, exports it to
 * ONNX with @lip/export, and @lip/verify's `lipschitzBound` certifies it is
 * 1-Lipschitz. Build first (`npx tsc -b`): the bundle takes each package's
 * dist/, as a user's bundler would.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { exportOnnx } from '@lip/export';
import '@lip/train';
import { lipschitzBound } from '@lip/verify';
import { ROOT, withTmpDir } from '@lip/test-support';
import { browserMissing, launchChromium } from '@lip/test-support/browser';

jest.setTimeout(600_000);

/** The training script, as a user would write it against the package entry. */
const SCRIPT = `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers } from '@tensorflow/tfjs-layers';
import {
  GroupSort2, LipschitzSequential, MonitorCallback, ScaledL2NormPool2D, SpectralConv2D, SpectralDense, makeLoss,
} from '@lip/train';

/** 8×8 grey images of 3 classes (a bright block in one of three places), seeded. */
function data(n, seed) {
  const images = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    const [r0, c0] = [[0, 0], [0, 4], [4, 2]][i % 3];
    for (let p = 0; p < 64; p++) {
      const r = Math.floor(p / 8), c = p % 8;
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      images[i * 64 + p] = (r >= r0 && r < r0 + 4 && c >= c0 && c < c0 + 4 ? 0.6 : 0.1) + 0.3 * (s / 2 ** 32);
    }
  }
  return { x: tf.tensor4d(images, [n, 8, 8, 1]), y: tf.oneHot(tf.tensor1d(labels, 'int32'), 3) };
}

window.trainInBrowser = async () => {
  await tf.setBackend('cpu');
  const model = new LipschitzSequential({
    layers: [
      new SpectralConv2D({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1], seed: 1 }),
      new GroupSort2(),
      new ScaledL2NormPool2D({ poolSize: 2 }),
      layers.flatten(),
      new SpectralDense({ units: 8, seed: 2 }),
      new GroupSort2(),
      new SpectralDense({ units: 3, useBias: false, seed: 3 }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: makeLoss('hkr', { alpha: 10, minMargin: 0.2 }) });
  const { x, y } = data(48, 7);
  const before = model.getWeights().map((w) => Array.from(w.dataSync()));
  const batches = [];
  const monitor = new MonitorCallback({ log: null });
  await model.fit(x, y, {
    epochs: 2, batchSize: 16, callbacks: [monitor, { onBatchEnd: async (_b, logs) => void batches.push(logs.loss) }],
  });
  return {
    userAgent: navigator.userAgent,
    backend: tf.getBackend(),
    losses: batches,
    before,
    topology: model.toJSON(null, false),
    weights: model.getWeights().map((w) => Array.from(w.dataSync())),
    bounds: monitor.history[monitor.history.length - 1].layers.map((l) => l.bound),
  };
};
`;

interface PageResult {
  userAgent: string;
  backend: string;
  losses: number[];
  before: number[][];
  topology: object;
  weights: number[][];
  bounds: number[];
}

const skip = browserMissing();
if (skip) test('browser training: skipped', () => console.warn(skip));
const run = skip ? test.skip : test;

run('a script importing @lip/train bundles for the browser, trains with fit in Chromium, and exports a 1-Lipschitz model', async () => {
  await withTmpDir('browser-train', async (work) => {
    fs.writeFileSync(path.join(work, 'train.js'), SCRIPT);
    // Required lazily, as the launcher does: nothing is loaded when the test skips.
    const esbuild = require('esbuild') as typeof import('esbuild');
    const bundle = await esbuild.build({
      entryPoints: [path.join(work, 'train.js')],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      write: false,
      logLevel: 'silent',
      nodePaths: [path.join(ROOT, 'node_modules')],
    });
    expect(bundle.errors).toEqual([]);
    const code = bundle.outputFiles[0]!.text;
    // Nothing Node-only came along (checkpoints, locks, worker threads, downloads).
    expect(code).not.toMatch(/writeFileAtomic|proper-lockfile|function downloadFile|gradient_worker/);

    const browser = await launchChromium();
    let result: PageResult;
    try {
      const { page } = browser;
      await page.goto('about:blank');
      await page.addScriptTag({ content: code });
      result = await page.evaluate(() => (window as unknown as { trainInBrowser(): Promise<PageResult> }).trainInBrowser());
      expect(browser.errors).toEqual([]);
    } finally {
      await browser.close();
    }
    expect(result.userAgent).toMatch(/HeadlessChrome/);
    expect(result.backend).toBe('cpu');
    expect(result.losses).toHaveLength(6); // 2 epochs of 3 batches
    expect(result.losses.every(Number.isFinite)).toBe(true);
    expect(result.weights[0]).not.toEqual(result.before[0]);
    for (const bound of result.bounds) expect(bound).toBeLessThanOrEqual(1 + 1e-4);

    // Back in Node: the same model from the page's topology and weights, exported and bounded.
    await tf.setBackend('cpu');
    const model = await tfl.models.modelFromJSON({ modelTopology: result.topology } as tf.io.ModelJSON);
    const shapes = model.weights.map((w) => w.shape as number[]);
    model.setWeights(result.weights.map((w, i) => tf.tensor(w, shapes[i])));
    const onnx = exportOnnx(model);
    const bound = lipschitzBound(onnx);
    expect(bound.inputShape).toEqual([1, 8, 8]);
    expect(bound.total).toBeLessThanOrEqual(1 + 1e-4);
    expect(bound.total).toBeGreaterThan(0.1);
    model.dispose();
  });
});

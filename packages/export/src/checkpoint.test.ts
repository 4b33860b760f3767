/**
 * exportCheckpoint on the reference `seed` network: tfjs and onnxruntime agree
 * on the Fashion-MNIST test set in both profiles; refusals write nothing.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { layers as tfl, LayersModel } from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';
import * as L from '@lip/train';
import * as LN from '@lip/train/node';
import { atomicTemps, listFiles, maxAbsDiff, tmpDirPerSuite } from '@lip/test-support';
import { predictTfjs, QUIET_LOGGER } from '@lip/test-support/tf';
import { exportCheckpoint } from './export';

const TOL = 1e-5;
const BATCH = 500;

/** A train.json config for a checkpoint written by hand. */
function trainConfig(outDir: string): LN.TrainConfig {
  return {
    arch: 'seed',
    epochs: 1,
    batchSize: 256,
    lr: 5e-4,
    loss: 'hkr',
    alpha: 100,
    minMargin: 0.25,
    seed: 3,
    dataset: 'fashion-mnist',
    outDir,
    valSplit: 'test',
  };
}

async function writeCheckpoint(dir: string, model: LayersModel): Promise<void> {
  const optimizer = tf.train.adam(5e-4);
  await LN.saveCheckpoint(dir, model, optimizer, { config: trainConfig(dir), epochs: [] });
  optimizer.dispose();
}

const tmp = tmpDirPerSuite('export-ckpt');

beforeAll(async () => {
  // XNNPACK: the 10,000-image tfjs reference takes seconds instead of minutes on the cpu backend.
  expect(await tf.setBackend('wasm')).toBe(true);
});

describe('exportCheckpoint: the seed network on Fashion-MNIST', () => {
  let data: L.Dataset | null = null;
  let ckpt: string;
  let reference: Float32Array;
  /** The loaded model's own predictions (its training-time kernels: 15 Björck steps, persistent vectors). */
  let ownPredictions: Float32Array;

  beforeAll(async () => {
    try {
      data = await LN.loadDataset('fashion-mnist', 'test', { download: false });
    } catch (err) {
      console.warn(`skipped: Fashion-MNIST test set not found (${(err as Error).message})`);
      return;
    }
    // Untrained, but with raw kernels moved well away from the orthogonal init so
    // that Björck does real work, as it does after training.
    const model = L.buildModel('seed', { seed: 3, logger: QUIET_LOGGER });
    let seed = 100;
    for (const w of model.trainableWeights) {
      tf.tidy(() => w.write(tf.add(w.read(), tf.randomNormal(w.shape, 0, 0.05, 'float32', seed++))));
    }
    model.updateConstraints(100); // as training keeps the power-iteration vectors current
    ckpt = tmp.path('seed');
    await writeCheckpoint(ckpt, model);
    model.dispose();

    // The reference: the checkpoint as loaded, with its weights normalized to convergence.
    const { model: loaded } = await LN.loadCheckpoint(ckpt);
    const twin = loaded.vanillaExport({ converge: true });
    reference = new Float32Array(data.n * 10);
    ownPredictions = new Float32Array(data.n * 10);
    for (let start = 0; start < data.n; start += BATCH) {
      const n = Math.min(BATCH, data.n - start);
      const x = data.images.subarray(start * 784, (start + n) * 784);
      reference.set(predictTfjs(twin, x, [n, 28, 28, 1]), start * 10);
      ownPredictions.set(predictTfjs(loaded, x, [n, 28, 28, 1]), start * 10);
    }
    twin.dispose();
    loaded.dispose();
  });

  it.each([false, true])('onnxruntime-node matches tfjs within 1e-5 on the whole test set (portable=%s)', async (portable) => {
    if (!data) return;
    const out = tmp.path(`seed-${portable ? 'portable' : 'default'}.onnx`);
    const result = await exportCheckpoint(ckpt, out, { portable });
    expect(result.path).toBe(out);
    expect(result.bytes).toBe(fs.statSync(out).size);
    expect(result.metadata.architecture).toBe('seed');
    expect(JSON.parse(result.metadata.class_names)).toEqual([...L.FASHION_MNIST_CLASS_NAMES]);
    expect(Number(result.metadata.lipschitz_constant)).toBeCloseTo(1, 12);
    expect(result.metadata.profile).toBe(portable ? 'portable' : 'default');

    const session = await ort.InferenceSession.create(out);
    const got = new Float32Array(data.n * 10);
    for (let start = 0; start < data.n; start += BATCH) {
      const n = Math.min(BATCH, data.n - start);
      // One channel: NHWC and NCHW hold the same bytes.
      const x = Float32Array.from(data.images.subarray(start * 784, (start + n) * 784));
      const { logits } = await session.run({ input: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
      got.set(logits.data as Float32Array, start * 10);
    }
    await session.release();
    expect(maxAbsDiff(got, reference)).toBeLessThanOrEqual(TOL);
    // The model as trained agrees too: here its 15 Björck steps are already converged to float32.
    expect(maxAbsDiff(got, ownPredictions)).toBeLessThanOrEqual(TOL);
    // No temp file left next to the output.
    expect(atomicTemps(tmp.dir)).toEqual([]);
  });
});

describe('exportCheckpoint: refusals write nothing', () => {
  let refused: string;

  beforeAll(async () => {
    const model = new L.LipschitzSequential({
      layers: [tfl.inputLayer({ inputShape: [6] }), new L.SpectralDense({ units: 4 }), tfl.dense({ units: 3, name: 'plain_dense' })],
      logger: QUIET_LOGGER,
    });
    refused = tmp.path('refused');
    await writeCheckpoint(refused, model);
    model.dispose();
  });

  it('refuses a checkpoint with a layer it cannot express', async () => {
    const outDir = tmp.path('refused-out');
    fs.mkdirSync(outDir);
    const out = path.join(outDir, 'model.onnx');
    await expect(exportCheckpoint(refused, out)).rejects.toThrow(new L.ModelError("cannot export layer 'plain_dense' (Dense): no ONNX emitter for this class"));
    await expect(exportCheckpoint(refused, out)).rejects.toBeInstanceOf(L.ModelError);
    expect(listFiles(outDir)).toEqual([]);
  });

  it('leaves an existing output untouched when the export fails', async () => {
    const outDir = tmp.path('keep');
    fs.mkdirSync(outDir);
    const out = path.join(outDir, 'model.onnx');
    fs.writeFileSync(out, 'previous');
    await expect(exportCheckpoint(refused, out)).rejects.toBeInstanceOf(L.ModelError);
    await expect(exportCheckpoint(tmp.path('no-such-checkpoint'), out)).rejects.toBeInstanceOf(L.ModelError);
    expect(fs.readFileSync(out, 'utf8')).toBe('previous');
    expect(listFiles(outDir)).toEqual(['model.onnx']);
  });
});

/**
 * exportCheckpoint on the reference `seed` network: tfjs and onnxruntime agree
 * on the Fashion-MNIST test set in both profiles; refusals write nothing.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { layers as tfl, LayersModel } from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';
import * as L from '@lip/train';
import * as LN from '@lip/train/node';
import { exportCheckpoint } from './export';
import { maxAbsDiff, predictTfjs } from '../test/compare';

const TOL = 1e-5;
const BATCH = 500;
const quiet = { warn: (): void => {} };

/** A train.json config for a checkpoint written by hand. */
function trainConfig(outDir: string): LN.TrainConfig {
  return {
    arch: 'seed', epochs: 1, batchSize: 256, lr: 5e-4, loss: 'hkr', alpha: 100, minMargin: 0.25,
    seed: 3, dataset: 'fashion-mnist', outDir, valSplit: 'test',
  };
}

async function writeCheckpoint(dir: string, model: LayersModel): Promise<void> {
  const optimizer = tf.train.adam(5e-4);
  await LN.saveCheckpoint(dir, model, optimizer, { config: trainConfig(dir), epochs: [] });
  optimizer.dispose();
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

let work: string;

beforeAll(async () => {
  // XNNPACK: the 10,000-image tfjs reference takes seconds instead of minutes on the cpu backend.
  expect(await tf.setBackend('wasm')).toBe(true);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-export-ckpt-'));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
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
    const model = L.buildModel('seed', { seed: 3, logger: quiet });
    let seed = 100;
    for (const w of model.trainableWeights) {
      tf.tidy(() => w.write(tf.add(w.read(), tf.randomNormal(w.shape, 0, 0.05, 'float32', seed++))));
    }
    model.updateConstraints(100); // as training keeps the power-iteration vectors current
    ckpt = path.join(work, 'seed');
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
    const out = path.join(work, `seed-${portable ? 'portable' : 'default'}.onnx`);
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
    expect(listFiles(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('exportCheckpoint: refusals write nothing', () => {
  let refused: string;

  beforeAll(async () => {
    const model = new L.LipschitzSequential({
      layers: [tfl.inputLayer({ inputShape: [6] }), new L.SpectralDense({ units: 4 }), tfl.dense({ units: 3, name: 'plain_dense' })],
      logger: quiet,
    });
    refused = path.join(work, 'refused');
    await writeCheckpoint(refused, model);
    model.dispose();
  });

  it('refuses a checkpoint with a layer it cannot express', async () => {
    const outDir = path.join(work, 'refused-out');
    fs.mkdirSync(outDir);
    const out = path.join(outDir, 'model.onnx');
    await expect(exportCheckpoint(refused, out)).rejects.toThrow(
      new L.ModelError("cannot export layer 'plain_dense' (Dense): no ONNX emitter for this class"),
    );
    await expect(exportCheckpoint(refused, out)).rejects.toBeInstanceOf(L.ModelError);
    expect(listFiles(outDir)).toEqual([]);
  });

  it('leaves an existing output untouched when the export fails', async () => {
    const outDir = path.join(work, 'keep');
    fs.mkdirSync(outDir);
    const out = path.join(outDir, 'model.onnx');
    fs.writeFileSync(out, 'previous');
    await expect(exportCheckpoint(refused, out)).rejects.toBeInstanceOf(L.ModelError);
    await expect(exportCheckpoint(path.join(work, 'no-such-checkpoint'), out)).rejects.toBeInstanceOf(L.ModelError);
    expect(fs.readFileSync(out, 'utf8')).toBe('previous');
    expect(listFiles(outDir)).toEqual(['model.onnx']);
  });
});

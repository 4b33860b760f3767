import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelError } from '../errors';
import { loadOptimizer, OPTIMIZER_WEIGHTS_FILE, readTrainState, saveCheckpoint, TrainState } from './checkpoint';
import { resolveTrainConfig } from './config';
import { fileHandler, MODEL_FILE, WEIGHTS_FILE } from './file-handler';

// Plain tfjs models: these tests cover the files, not the Lipschitz layers.
function plainModel(units = 3): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ inputShape: [4], units: 5, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  model.add(tfl.layers.dense({ units, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  return model;
}

function adamStep(model: tfl.LayersModel, optimizer: tf.AdamOptimizer, x: tf.Tensor, y: tf.Tensor): void {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar, vars);
  optimizer.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name] })));
  tf.dispose([value, ...Object.values(grads)]);
}

function weightsOf(model: tfl.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe('checkpoint files', () => {
  let tmp: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-ckpt-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('fileHandler saves model.json + weights.bin that load back', async () => {
    const model = plainModel();
    await model.save(fileHandler(tmp));
    const json = JSON.parse(fs.readFileSync(path.join(tmp, MODEL_FILE), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual([WEIGHTS_FILE]);
    const loaded = await tfl.loadLayersModel(fileHandler(tmp));
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    model.dispose();
    loaded.dispose();
  });

  it('rejects a truncated weights.bin with a ModelError naming the file', async () => {
    await plainModel().save(fileHandler(tmp));
    const file = path.join(tmp, WEIGHTS_FILE);
    fs.truncateSync(file, fs.statSync(file).size - 4);
    await expect(tfl.loadLayersModel(fileHandler(tmp))).rejects.toThrow(/weights\.bin holds \d+ bytes, model\.json expects/);
  });

  it('restores Adam so that the next steps are bit-identical', async () => {
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 3);
    const y = tf.randomNormal([8, 3], 0, 1, 'float32', 4);
    const model = plainModel();
    const optimizer = tf.train.adam(0.01);
    for (let i = 0; i < 18; i++) adamStep(model, optimizer, x, y);
    const state: TrainState = { config: resolveTrainConfig({ outDir: tmp }), epochs: [] };
    await saveCheckpoint(tmp, model, optimizer, state);
    expect(readTrainState(tmp)).toEqual(state);

    const restored = await tfl.loadLayersModel(fileHandler(tmp));
    const restoredOptimizer = await loadOptimizer(tmp, restored);
    expect(restoredOptimizer.iterations).toBe(18);
    for (let i = 0; i < 5; i++) {
      adamStep(model, optimizer, x, y);
      adamStep(restored, restoredOptimizer, x, y);
    }
    expect(weightsOf(restored)).toEqual(weightsOf(model));

    const before = tf.memory().numTensors;
    const again = await loadOptimizer(tmp, restored);
    again.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("reads a train.json written before learning-rate schedules as 'constant'", async () => {
    const model = plainModel();
    const optimizer = tf.train.adam(0.01);
    const config = resolveTrainConfig({ outDir: tmp, lrSchedule: 'linear' });
    await saveCheckpoint(tmp, model, optimizer, { config, epochs: [] });
    expect(readTrainState(tmp).config.lrSchedule).toBe('linear');
    const { lrSchedule: _dropped, ...legacy } = config;
    fs.writeFileSync(path.join(tmp, 'train.json'), JSON.stringify({ config: legacy, epochs: [] }));
    expect(readTrainState(tmp)).toEqual({ config: { ...config, lrSchedule: 'constant' }, epochs: [] });
    optimizer.dispose();
    model.dispose();
  });

  it('refuses an optimizer state that does not fit the model', async () => {
    const model = plainModel();
    const optimizer = tf.train.adam(0.01);
    adamStep(model, optimizer, tf.ones([2, 4]), tf.ones([2, 3]));
    await saveCheckpoint(tmp, model, optimizer, { config: resolveTrainConfig({ outDir: tmp }), epochs: [] });
    await expect(loadOptimizer(tmp, plainModel(7))).rejects.toThrow(ModelError);
    await expect(loadOptimizer(tmp, plainModel(7))).rejects.toThrow(/optimizer\.bin does not match the model/);
    fs.truncateSync(path.join(tmp, OPTIMIZER_WEIGHTS_FILE), 10);
    await expect(loadOptimizer(tmp, model)).rejects.toThrow(/optimizer\.bin is truncated or corrupt/);
  });
});

import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { tmpDirPerTest } from '@lip/test-support';
import { weightsOf } from '@lip/test-support/tf';
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

describe('checkpoint files', () => {
  const tmp = tmpDirPerTest('ckpt');
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('fileHandler saves model.json + weights.bin that load back', async () => {
    const model = plainModel();
    await model.save(fileHandler(tmp.dir));
    const json = JSON.parse(fs.readFileSync(tmp.path(MODEL_FILE), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual([WEIGHTS_FILE]);
    const loaded = await tfl.loadLayersModel(fileHandler(tmp.dir));
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    model.dispose();
    loaded.dispose();
  });

  it('rejects a truncated weights.bin with a ModelError naming the file', async () => {
    await plainModel().save(fileHandler(tmp.dir));
    const file = tmp.path(WEIGHTS_FILE);
    fs.truncateSync(file, fs.statSync(file).size - 4);
    await expect(tfl.loadLayersModel(fileHandler(tmp.dir))).rejects.toThrow(/weights\.bin holds \d+ bytes, model\.json expects/);
  });

  it('restores Adam so that the next steps are bit-identical', async () => {
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 3);
    const y = tf.randomNormal([8, 3], 0, 1, 'float32', 4);
    const model = plainModel();
    const optimizer = tf.train.adam(0.01);
    for (let i = 0; i < 18; i++) adamStep(model, optimizer, x, y);
    const state: TrainState = { config: resolveTrainConfig({ outDir: tmp.dir }), epochs: [] };
    await saveCheckpoint(tmp.dir, model, optimizer, state);
    expect(readTrainState(tmp.dir)).toEqual(state);

    const restored = await tfl.loadLayersModel(fileHandler(tmp.dir));
    const restoredOptimizer = await loadOptimizer(tmp.dir, restored);
    expect(restoredOptimizer.iterations).toBe(18);
    for (let i = 0; i < 5; i++) {
      adamStep(model, optimizer, x, y);
      adamStep(restored, restoredOptimizer, x, y);
    }
    expect(weightsOf(restored)).toEqual(weightsOf(model));

    const before = tf.memory().numTensors;
    const again = await loadOptimizer(tmp.dir, restored);
    again.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("reads a train.json written before learning-rate schedules as 'constant'", async () => {
    const model = plainModel();
    const optimizer = tf.train.adam(0.01);
    const config = resolveTrainConfig({ outDir: tmp.dir, lrSchedule: 'linear' });
    await saveCheckpoint(tmp.dir, model, optimizer, { config, epochs: [] });
    expect(readTrainState(tmp.dir).config.lrSchedule).toBe('linear');
    const { lrSchedule: _dropped, ...legacy } = config;
    fs.writeFileSync(tmp.path('train.json'), JSON.stringify({ config: legacy, epochs: [] }));
    expect(readTrainState(tmp.dir)).toEqual({ config: { ...config, lrSchedule: 'constant' }, epochs: [] });
    optimizer.dispose();
    model.dispose();
  });

  it('refuses an optimizer state that does not fit the model', async () => {
    const model = plainModel();
    const optimizer = tf.train.adam(0.01);
    adamStep(model, optimizer, tf.ones([2, 4]), tf.ones([2, 3]));
    await saveCheckpoint(tmp.dir, model, optimizer, { config: resolveTrainConfig({ outDir: tmp.dir }), epochs: [] });
    await expect(loadOptimizer(tmp.dir, plainModel(7))).rejects.toThrow(ModelError);
    await expect(loadOptimizer(tmp.dir, plainModel(7))).rejects.toThrow(/optimizer\.bin does not match the model/);
    fs.truncateSync(tmp.path(OPTIMIZER_WEIGHTS_FILE), 10);
    await expect(loadOptimizer(tmp.dir, model)).rejects.toThrow(/optimizer\.bin is truncated or corrupt/);
  });
});

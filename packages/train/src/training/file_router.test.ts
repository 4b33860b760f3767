/**
 * `tf.loadLayersModel('file://…')` and `model.save('file://…')` without
 * tfjs-node: `@lip/train/node` registers `fileRouter` with tfjs; with
 * tfjs-node's 'tensorflow' backend registered, tfjs-node serves `file://`
 * and the router steps aside (two handlers for one URL is an error in tfjs).
 */
import * as fs from 'fs';
import * as path from 'path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { tmpDirPerSuite } from '@lip/test-support';
import { LipschitzSequential, SpectralDense } from '../layers';
import { fileHandler, fileRouter } from './file-handler';

const tmp = tmpDirPerSuite('file-router');
beforeAll(async () => {
  await tf.setBackend('cpu');
});

test('save to file://DIR, load from file://DIR/model.json and from fileHandler, same outputs', async () => {
  const model = new LipschitzSequential({ layers: [new SpectralDense({ units: 3, inputShape: [4], seed: 1 })] });
  const dir = tmp.path('m');
  await model.save(`file://${dir}`);
  expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
  const x = tf.randomNormal([2, 4], 0, 1, 'float32', 1);
  const expected = Array.from((model.predict(x) as tf.Tensor).dataSync());
  for (const source of [`file://${dir}/model.json`, `file://${dir}`]) {
    const loaded = await tfl.loadLayersModel(source);
    expect(loaded).toBeInstanceOf(LipschitzSequential);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(expected);
  }
  const viaHandler = await tfl.loadLayersModel(fileHandler(path.join(dir, 'model.json')));
  expect(Array.from((viaHandler.predict(x) as tf.Tensor).dataSync())).toEqual(expected);
});

test('the router serves file:// only, and steps aside for tfjs-node', () => {
  expect(fileRouter('https://example.org/model.json')).toBeNull();
  expect(fileRouter(['file://a', 'file://b'])).toBeNull();
  expect(fileRouter('file:///tmp/x/model.json')).not.toBeNull();
  // As @tensorflow/tfjs-node does on import.
  tf.registerBackend('tensorflow', () => null as never, -100);
  try {
    expect(fileRouter('file:///tmp/x/model.json')).toBeNull();
  } finally {
    tf.removeBackend('tensorflow');
  }
});

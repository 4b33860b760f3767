/**
 * The ONNX -> tfjs translator (what `lip attack` differentiates) on issue 16's
 * exported layers: Householder (rotations around a GroupSort2), LayerCentering
 * (Transpose / Reshape / GlobalAveragePool / Sub) and BatchCentering (Add), in
 * both profiles, against onnxruntime.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl } from '@tensorflow/tfjs-layers';
import { exportOnnx } from '@lip/export';
import * as L from '@lip/train';
import { randomImages } from '@lip/test-support';
import { QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';
import { readOnnxModel } from '../onnx/read';
import { openSession } from '../session';
import { assertTranslationMatches } from './translate';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.each([false, true])('portable %s', (portable) => {
  test('a network of Householder, LayerCentering and BatchCentering layers translates exactly', async () => {
    const chw: [number, number, number] = [2, 6, 6];
    const model = new L.LipschitzSequential({
      layers: [
        tfl.inputLayer({ inputShape: [6, 6, 2] }),
        new L.SpectralConv2D({ filters: 4, kernelSize: 3, seed: 1 }),
        new L.BatchCentering(),
        new L.Householder({ theta: 2 }),
        new L.LayerCentering(),
        new L.LayerCentering({ axis: -1 }),
        tfl.flatten(),
        new L.SpectralDense({ units: 8, seed: 2 }),
        new L.LayerCentering(),
        new L.Householder({ theta: -0.5 }),
        new L.FrobeniusDense({ units: 3, disjointNeurons: true }),
      ],
      logger: QUIET_LOGGER,
    });
    randomizeWeights(model, 4, 0.8);
    model.apply(tf.randomNormal([4, 6, 6, 2], 1, 1, 'float32', 2), { training: true });
    const m = readOnnxModel(exportOnnx(model, { portable }));
    const session = await openSession(m);
    try {
      const diff = await assertTranslationMatches(m, session, { images: randomImages(3, chw, 7), n: 3, chw });
      expect(diff).toBeLessThan(1e-4);
    } finally {
      await session.close();
      model.dispose();
    }
  });
});

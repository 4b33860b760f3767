/**
 * The architectures built from issue 16's residual layers: `--arch aol`
 * (AOL convolutions), `--arch sll`, `sll-wide`, `sll-deep`, `sll-large` and `sll-lift` (SLL residual layers). Each is
 * 1-Lipschitz, measured on pairs and input-gradient norms after "training"
 * (raw weights far from their initial state), for MNIST's and CIFAR-10's shapes.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { maxRatio } from '@lip/test-support/measure';
import { randomizeWeights, warnRecorder } from '@lip/test-support/tf';
import { LipschitzSequential } from '../layers';
import { buildModel } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function trainedForward(model: LipschitzSequential, seed: number): (x: tf.Tensor) => tf.Tensor {
  randomizeWeights(model, seed, 0.5, 0.05);
  model.updateConstraints(50);
  return (x) => model.apply(x, { training: false }) as tf.Tensor;
}

describe.each(['aol', 'sll', 'sll-wide', 'sll-deep', 'sll-large', 'sll-lift'])("buildModel('%s')", (arch) => {
  test('is 1-Lipschitz on 28×28×1, measured by pairs and input-gradient norms', () => {
    const logger = warnRecorder();
    const inputShape = [28, 28, 1];
    const model = buildModel(arch, { seed: 4, logger });
    expect(logger.messages).toEqual([]);
    expect(model.layers[1].outputShape).toEqual([null, 7, 7, 16]);
    expect(model.outputs[0].shape).toEqual([null, 10]);
    expect(model.lipschitzConstant()).toBe(1);
    const f = trainedForward(model, 100);
    expect(maxRatio(f, [1, ...inputShape], 6, 9)).toBeLessThanOrEqual(1 + 1e-4);
    const x = tf.randomUniform([3, ...inputShape], 0, 1, 'float32', 3);
    const u = tf.randomNormal([3, 10], 0, 1, 'float32', 5);
    const unit = tf.div(u, tf.norm(u, 2, 1, true));
    const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(f(xx), unit)))(x);
    const norms = Array.from(tf.norm(tf.reshape(g, [3, -1]), 2, 1).dataSync());
    expect(Math.max(...norms)).toBeLessThanOrEqual(1 + 1e-4);
    expect(Math.min(...norms)).toBeGreaterThan(1e-4);
    model.dispose();
  });

  test("takes CIFAR-10's 32×32×3 (space-to-depth to 8×8×48)", () => {
    const model = buildModel(arch, { seed: 4, inputShape: [32, 32, 3], logger: warnRecorder() });
    expect(model.layers[1].outputShape).toEqual([null, 8, 8, 48]);
    expect(model.outputs[0].shape).toEqual([null, 10]);
    expect(model.lipschitzConstant()).toBe(1);
    model.dispose();
  });

  test('refuses an input whose sides are not divisible by 4, naming the architecture', () => {
    expect(() => buildModel(arch, { inputShape: [30, 30, 3], logger: warnRecorder() })).toThrow(
      `the '${arch}' architecture needs an input height and width divisible by 4 (two space-to-depth steps), got [30, 30, 3]`,
    );
  });
});

/**
 * The reference network on tfjs-backend-wasm (with the backend package's
 * gradient kernels) computes what it computes on cpu. Skipped until
 * `backend/` exports `selectBackend`.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { maxRelDiff } from '@lip/test-support';
import { convOperatorNormExplicit } from '@lip/test-support/measure';
import * as backendModule from '../backend';
import { buildModel } from '../models';
import { LipschitzSequential } from './lipschitz_sequential';
import { SpectralConv2D } from './spectral_conv2d';

const selectBackend = (backendModule as unknown as Record<string, unknown>).selectBackend as ((pref?: string) => Promise<unknown>) | undefined;
const maybe = typeof selectBackend === 'function' ? test : test.skip;

interface StepResult {
  output: Float32Array;
  grads: Float32Array[];
  convNorm: number;
}

/** Output and gradients of one training step of a seeded reference network on the current backend. */
function step(): StepResult {
  const model = buildModel('seed', { seed: 5, inputShape: [8, 8, 1], logger: { warn: () => {} } });
  const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 2);
  model.updateConstraints();
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(model.apply(x, { training: true }) as tf.Tensor, 0.5))) as tf.Scalar, vars);
  const result: StepResult = {
    output: (model.predict(x) as tf.Tensor).dataSync() as Float32Array,
    grads: vars.map((v) => grads[v.name].dataSync() as Float32Array),
    convNorm: 0,
  };
  const conv = model.layers[3] as SpectralConv2D;
  const k = conv.effectiveKernel();
  result.convNorm = convOperatorNormExplicit(k, [4, 4, 16], conv.strides, conv.padding);
  (model as LipschitzSequential).dispose();
  return result;
}

maybe('wasm: same outputs and gradients as cpu, and the conv stays 1-Lipschitz', async () => {
  await tf.setBackend('cpu');
  const cpu = step();
  await selectBackend!('wasm');
  expect(tf.getBackend()).toBe('wasm');
  const wasm = step();
  expect(maxRelDiff(wasm.output, cpu.output)).toBeLessThan(1e-4);
  wasm.grads.forEach((g, i) => expect(maxRelDiff(g, cpu.grads[i])).toBeLessThan(1e-3));
  expect(wasm.convNorm).toBeLessThanOrEqual(1 + 1e-5);
  expect(Math.abs(wasm.convNorm - cpu.convNorm)).toBeLessThan(1e-4);
});

/**
 * TensorFlow.js in tests: the backend of a describe block, running a
 * reference on the cpu backend, predicting with a model, checking that ops
 * free their tensors, and the usual manipulations of Lipschitz layers (build,
 * scramble the raw kernel or every weight, save and load back, record
 * warnings).
 */
import * as tf from '@tensorflow/tfjs-core';
import { layers, LayersModel, LayerVariable, loadLayersModel, sequential } from '@tensorflow/tfjs-layers';
import { maxAbsDiff } from './compare';

/** For the calling describe block (or file): its tests run on the backend `name` (set in a beforeAll). */
export function useBackend(name: string): void {
  beforeAll(async () => {
    expect(await tf.setBackend(name)).toBe(true);
  });
}

/** Runs `fn` on the cpu backend (the reference), then switches back. */
export async function onCpu<T>(fn: () => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return fn();
  } finally {
    await tf.setBackend(previous);
  }
}

/** tfjs prediction on a NHWC (or [n, f]) batch. */
export function predictTfjs(model: LayersModel, data: Float32Array, shape: readonly number[]): Float32Array {
  return tf.tidy(() => {
    const y = model.predict(tf.tensor(data, [...shape])) as tf.Tensor;
    return Float32Array.from(y.dataSync());
  });
}

/** Every weight of `model`, as arrays (in `getWeights()` order). */
export function weightsOf(model: LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

/** `op` on `x` leaves exactly its output behind, and its gradient exactly the gradient. */
export function expectNoTensorLeak(op: (t: tf.Tensor) => tf.Tensor, x: tf.Tensor): void {
  const before = tf.memory().numTensors;
  const y = op(x);
  expect(tf.memory().numTensors).toBe(before + 1);
  const g = tf.grad((t: tf.Tensor) => tf.sum(op(t)))(x);
  expect(tf.memory().numTensors).toBe(before + 2);
  tf.dispose([y, g]);
}

/** `layer` built on one input of `inputShape` (no batch dimension). */
export function built<T extends { apply(x: tf.Tensor): unknown }>(layer: T, inputShape: readonly number[]): T {
  layer.apply(tf.zeros([1, ...inputShape]));
  return layer;
}

/** Replaces the raw kernel by a random, badly scaled one (standard normal x 3), as after training. */
export function scrambleRawKernel(layer: { rawKernel: tf.Variable }, seed: number): void {
  const k = layer.rawKernel;
  tf.tidy(() => {
    k.assign(tf.mul(tf.randomNormal(k.shape, 0, 1, 'float32', seed), 3));
  });
}

/**
 * Overwrites every trainable weight with seeded normal values, as after
 * training (raw kernels far from any normalized state): weight i of
 * `trainableWeights` from seed `seed + i`, standard deviation `std`, or
 * `biasStd` for biases.
 */
export function randomizeWeights(model: { trainableWeights: LayerVariable[] }, seed: number, std = 1, biasStd = std): void {
  model.trainableWeights.forEach((w, i) => {
    const sd = /bias/.test(w.name) ? biasStd : std;
    tf.tidy(() => {
      w.write(tf.randomNormal(w.shape as number[], 0, sd, 'float32', seed + i));
    });
  });
}

/** A logger that keeps the warnings it is given. */
export function warnRecorder(): { messages: string[]; warn: (m: string) => void } {
  const messages: string[] = [];
  return { messages, warn: (m: string) => messages.push(m) };
}

/** A logger that drops warnings. */
export const QUIET_LOGGER = { warn: (): void => undefined };

/** `model.save` into memory, then `tf.loadLayersModel` from it; also returns the artifacts. */
export async function saveAndLoad(model: LayersModel): Promise<{ loaded: LayersModel; artifacts: tf.io.ModelArtifacts }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (artifacts === undefined) throw new Error('save handler was not called');
  const loaded = await loadLayersModel(tf.io.fromMemory(artifacts));
  return { loaded, artifacts };
}

/**
 * `layer` alone in a sequential model on the batch `x`: one Adam step moves
 * its raw kernel, the model reloads with a `layerClass` layer and the same
 * outputs, and the layer's plain twin (tfjs class `twinClassName`) computes
 * the same map (<= 1e-5). Returns the model.
 */
export async function expectTrainsReloadsAndExportsTwin(
  layer: layers.Layer & { rawKernel: tf.Variable; vanillaExport(): layers.Layer },
  x: tf.Tensor,
  layerClass: abstract new (...args: never[]) => layers.Layer,
  twinClassName: string,
): Promise<LayersModel> {
  const model = sequential({ layers: [layer] });
  const before = tf.clone(layer.rawKernel);
  tf.train.adam(1e-2).minimize(() => tf.mean(tf.square(tf.sub(model.apply(x, { training: true }) as tf.Tensor, 0.3))) as tf.Scalar);
  expect(maxAbsDiff(before, layer.rawKernel)).toBeGreaterThan(1e-4);
  const { loaded } = await saveAndLoad(model);
  expect(loaded.layers[0]).toBeInstanceOf(layerClass);
  expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
  const twin = sequential({ layers: [layer.vanillaExport()] });
  expect(twin.layers[0].getClassName()).toBe(twinClassName);
  expect(maxAbsDiff(twin.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
  return model;
}

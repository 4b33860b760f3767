/** Test helpers: save a model through an in-memory IOHandler and load it back. */
import * as tf from '@tensorflow/tfjs-core';
import { LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';

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

/** Max |a - b| over two tensors of the same shape. */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}
